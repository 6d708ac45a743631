"""Fashion-MNIST (and any MNIST-style IDX files) as RGB uint8 [N, 3, H, W].

Reads the four IDX files (gzip-compressed or not) from a folder laid out as the original
distribution (root/train-images-idx3-ubyte.gz, ...) or as torchvision stores it
(root/FashionMNIST/raw/...). Grey is repeated to 3 channels, optionally tinted with a random
per-image colour, and optionally resized (bilinear, antialiased) to size x size.
"""
from __future__ import annotations

import gzip
import os

import numpy as np
import torch

from .arrays import ArrayDataset

DEFAULT_ROOT = "/usr/share/datasets/fashion-mnist"
CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
FILES = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
         "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}
_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path) -> np.ndarray:
    """An IDX file (MNIST format; .gz or plain) as a numpy array of its stored shape."""
    path = os.fspath(path)
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _IDX_DTYPES:
        raise ValueError(f"{path} is not an IDX file (bad magic number {data[:4].hex() if data else 'empty'})")
    ndim = data[3]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise ValueError(f"{path} is truncated: its IDX header needs {header} bytes, the file has {len(data)}")
    shape = tuple(int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim))
    dtype = np.dtype(_IDX_DTYPES[data[2]])
    expected = header + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(data) != expected:
        raise ValueError(f"{path}: the IDX header announces shape {shape} ({expected} bytes) but the file holds"
                         f" {len(data)} bytes")
    return np.frombuffer(data, dtype=dtype, offset=header).reshape(shape)


def _find(root: str, stem: str) -> str | None:
    for folder in (root, os.path.join(root, "raw"), os.path.join(root, "FashionMNIST", "raw")):
        for name in (stem + ".gz", stem):
            path = os.path.join(folder, name)
            if os.path.isfile(path):
                return path
    return None


def resize(images: torch.Tensor, size: int, chunk: int = 8192) -> torch.Tensor:
    """uint8 [N, C, H, W] -> uint8 [N, C, size, size], bilinear with antialiasing, rounded."""
    if tuple(images.shape[-2:]) == (size, size):
        return images
    out = torch.empty((images.shape[0], images.shape[1], size, size), dtype=torch.uint8)
    for start in range(0, images.shape[0], chunk):
        part = images[start:start + chunk].float()
        scaled = torch.nn.functional.interpolate(part, size=(size, size), mode="bilinear", align_corners=False,
                                                 antialias=True)
        out[start:start + chunk] = scaled.round_().clamp_(0, 255).to(torch.uint8)
    return out


def fashion_mnist(root=None, split: str = "train", *, size: int | None = 32, tint: bool = False,
                  seed: int = 0) -> ArrayDataset:
    """Fashion-MNIST `split` ("train": 60000, "test": 10000) as RGB uint8 [N, 3, size, size].

    size: None keeps 28 x 28. tint: multiply each image by a random colour (seeded) instead of
    plain grey.
    """
    if split not in FILES:
        raise ValueError(f"split must be one of {sorted(FILES)} for Fashion-MNIST, got {split!r}")
    root = os.fspath(DEFAULT_ROOT if root is None else root)
    if not os.path.isdir(root):
        raise FileNotFoundError(f"Fashion-MNIST root {root!r} is not a folder")
    found = [_find(root, stem) for stem in FILES[split]]
    if None in found:
        missing = [stem for stem, path in zip(FILES[split], found) if path is None]
        raise FileNotFoundError(f"Fashion-MNIST files {missing} (.gz or plain) not found in {root!r},"
                                f" {os.path.join(root, 'raw')!r} or {os.path.join(root, 'FashionMNIST', 'raw')!r}")
    images, labels = read_idx(found[0]), read_idx(found[1])
    if images.ndim != 3 or labels.ndim != 1 or images.shape[0] != labels.shape[0]:
        raise ValueError(f"{found[0]} / {found[1]}: expected N x H x W images and N labels, got shapes"
                         f" {images.shape} and {labels.shape}")
    x = torch.from_numpy(images.astype(np.uint8)).unsqueeze(1)  # [N, 1, 28, 28]
    if size is not None:
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise ValueError(f"size must be None or a positive integer (pixels), got {size!r}")
        x = resize(x, size)
    x = x.expand(-1, 3, -1, -1)
    if tint:
        rng = np.random.default_rng([int(seed), 0 if split == "train" else 1])
        colour = rng.uniform(0.35, 1.0, (x.shape[0], 3, 1, 1)).astype(np.float32)
        colour /= colour.max(axis=1, keepdims=True)
        x = (x.float() * torch.from_numpy(colour)).round_().to(torch.uint8)
    return ArrayDataset(x.contiguous(), torch.from_numpy(labels.astype(np.int64)), classes=CLASSES,
                        name=f"fashion-mnist-{split}")
