"""Test images: random, smoothed, real photos (scikit-image) and Fashion-MNIST, in any layout."""
from __future__ import annotations

import gzip
import os

import numpy as np
import torch

FASHION = "/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz"
KINDS = ("random", "smoothed", "real", "fashion")


def _real(n: int, h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    import skimage.data

    photos = [skimage.data.astronaut(), skimage.data.coffee(), skimage.data.chelsea()]
    out = np.empty((n, h, w, 3), dtype=np.uint8)
    for i in range(n):
        p = photos[i % len(photos)]
        y = rng.integers(0, p.shape[0] - h + 1)
        x = rng.integers(0, p.shape[1] - w + 1)
        out[i] = p[y:y + h, x:x + w]
    return out


def _fashion(n: int, h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    with gzip.open(FASHION, "rb") as f:
        raw = np.frombuffer(f.read(16 + 28 * 28 * 64), dtype=np.uint8, offset=16).reshape(64, 28, 28)
    grey = raw[np.arange(n) % 64]
    grey = np.tile(grey, (1, -(-h // 28), -(-w // 28)))[:, :h, :w]
    tint = rng.uniform(0.5, 1.0, size=(n, 1, 1, 3))
    return (grey[..., None] * tint).astype(np.uint8)


def make(kind: str, n: int, h: int, w: int, seed: int = 0) -> torch.Tensor:
    """An N x 3 x H x W uint8 batch of the given kind."""
    rng = np.random.default_rng(seed)
    if kind == "random":
        hwc = rng.integers(0, 256, size=(n, h, w, 3), dtype=np.uint8)
    elif kind == "smoothed":
        import scipy.ndimage

        noise = rng.normal(128, 60, size=(n, h, w, 3))
        smooth = scipy.ndimage.gaussian_filter(noise, sigma=(0, 2, 2, 0)) + rng.normal(0, 8, size=noise.shape)
        hwc = np.clip(np.round(smooth), 0, 255).astype(np.uint8)
    elif kind == "real":
        hwc = _real(n, h, w, rng)
    elif kind == "fashion":
        hwc = _fashion(n, h, w, rng)
    else:
        raise ValueError(kind)
    return torch.from_numpy(np.ascontiguousarray(hwc)).permute(0, 3, 1, 2).contiguous()


def have_fashion() -> bool:
    return os.path.exists(FASHION)


def layout(x: torch.Tensor, kind: str) -> torch.Tensor:
    """The same values as `x` in a contiguous, non-contiguous or channels_last tensor."""
    if kind == "contiguous":
        return x.contiguous()
    if kind == "channels_last":
        return x.contiguous(memory_format=torch.channels_last)
    if kind == "noncontiguous":
        wide = torch.zeros(x.shape[:3] + (2 * x.shape[3],), dtype=x.dtype)
        wide[..., ::2] = x
        return wide[..., ::2]
    raise ValueError(kind)


def as_float(x: torch.Tensor) -> torch.Tensor:
    """uint8 pixels as float 0..1 that round back to exactly the same pixels."""
    return x.float() / 255.0
