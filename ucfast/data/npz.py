"""Datasets stored as .npz files: the one reader of `data.build("npz", ...)` and `ucfast sanitize`.

Key rules, the same for both (split "train" when none is named):
    images   `<split>_images`, then `x_<split>`; for the train split also, in this order, the keys
             of a file holding one set: images, image, imgs, x, X, data
    labels   `<split>_labels`, then `y_<split>`; for the train split also labels, label, y, Y,
             targets, target. N integers; optional for `ucfast sanitize` (unlabelled samples get
             label -1), required by `load_npz` (training needs them)
    classes  optional class names
The first key present wins; an error names the keys the file holds. Images are N x H x W x C,
N x C x H x W (C = 1 or 3) or N x H x W (grey), uint8 0..255 or float 0..1. Uncompressed members
are memory-mapped, compressed ones loaded.
"""
from __future__ import annotations

import hashlib
import os
import zipfile
from dataclasses import dataclass, field

import numpy as np
import torch
from PIL import Image

from .arrays import ArrayDataset
from .fingerprint import file_stamp
from .folder import check_size, collate_items, resize_crop

IMAGE_KEYS = ("images", "image", "imgs", "x", "X", "data")
LABEL_KEYS = ("labels", "label", "y", "Y", "targets", "target")


def key_candidates(split: str | None) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(image keys, label keys) in the order they are tried for `split`."""
    split = split or "train"
    images, labels = (f"{split}_images", f"x_{split}"), (f"{split}_labels", f"y_{split}")
    if split == "train":
        images, labels = images + IMAGE_KEYS, labels + LABEL_KEYS
    return images, labels


def _member(path: str, name: str):
    """A stored (uncompressed) .npy member of an .npz, memory-mapped; None when it is compressed."""
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo(name)
        if info.compress_type != zipfile.ZIP_STORED:
            return None
    with open(path, "rb") as f:
        f.seek(info.header_offset)
        local = f.read(30)
        if local[:4] != b"PK\x03\x04":
            return None
        name_len, extra_len = int.from_bytes(local[26:28], "little"), int.from_bytes(local[28:30], "little")
        f.seek(info.header_offset + 30 + name_len + extra_len)
        version = np.lib.format.read_magic(f)
        read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, fortran, dtype = read_header(f)
        offset = f.tell()
    if dtype.hasobject:
        raise ValueError(f"{path}: member {name} holds Python objects, not an array")
    return np.memmap(path, dtype=dtype, mode="r", offset=offset, shape=shape, order="F" if fortran else "C")


@dataclass
class NpzArrays:
    """What `read_npz` found: the arrays (memory-mapped where stored uncompressed) and their keys."""

    path: str
    images: np.ndarray  # [N, ...] as stored; see `layout`
    labels: np.ndarray | None  # [N] int64, or None when the file holds no labels
    image_key: str
    label_key: str | None
    layout: str  # "NHW", "NHWC" or "NCHW"
    classes: list[str] | None
    keys: list[str]  # every array the file holds
    in_memory: list[str] = field(default_factory=list)  # keys that were compressed, hence loaded


def read_npz(path, split: str | None = None) -> NpzArrays:
    """The images, labels and class names of `split` in the .npz `path`, by the module's key rules."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"npz dataset {path!r} does not exist")
    with np.load(path, allow_pickle=False) as z:
        keys = list(z.files)
        classes = [str(c) for c in z["classes"]] if "classes" in keys else None
    image_keys, label_keys = key_candidates(split)
    image_key = next((k for k in image_keys if k in keys), None)
    if image_key is None:
        raise ValueError(f"{path}: no image array for split {split or 'train'!r}: expected one of {list(image_keys)},"
                         f" the file holds {sorted(keys)}")
    label_key = next((k for k in label_keys if k in keys), None)
    in_memory = []

    def array(key: str):
        member = _member(path, key + ".npy")
        if member is not None:
            return member
        in_memory.append(key)
        with np.load(path, allow_pickle=False) as z:
            return z[key]

    images = array(image_key)
    if images.ndim == 3:
        layout = "NHW"
    elif images.ndim == 4 and images.shape[-1] in (1, 3):
        layout = "NHWC"
    elif images.ndim == 4 and images.shape[1] in (1, 3):
        layout = "NCHW"
    else:
        raise ValueError(f"{path}: images {image_key!r} must be N x H x W x C, N x C x H x W (C = 1 or 3) or"
                         f" N x H x W, got shape {images.shape}")
    if images.dtype != np.uint8 and images.dtype.kind != "f":
        raise ValueError(f"{path}: images {image_key!r} must be uint8 (0..255) or float (0..1), got dtype"
                         f" {images.dtype}")
    if images.shape[0] == 0:
        raise ValueError(f"{path}: holds no images (array {image_key!r} is empty)")
    labels = None
    if label_key is not None:
        labels = np.asarray(array(label_key)).reshape(-1)
        if labels.shape[0] != images.shape[0] or labels.dtype.kind not in "iu":
            raise ValueError(f"{path}: labels {label_key!r} must be {images.shape[0]} integers, got shape"
                             f" {labels.shape} dtype {labels.dtype}")
        labels = labels.astype(np.int64)
        if labels.size and labels.min() < 0:
            raise ValueError(f"{path}: labels {label_key!r} must be class indices >= 0, got"
                             f" {int((labels < 0).sum())} negative (first at position {int(np.argmax(labels < 0))}:"
                             f" {int(labels[labels < 0][0])})")
    return NpzArrays(path, images, labels, image_key, label_key, layout, classes, sorted(keys), in_memory)


def load_npz(path, split: str | None = None) -> ArrayDataset:
    """The `split` of an .npz (key rules in the module doc) as an in-memory `ArrayDataset`."""
    found = read_npz(path, split)
    if found.labels is None:
        raise ValueError(f"{found.path}: no label array for split {split or 'train'!r}: expected one of"
                         f" {list(key_candidates(split)[1])}, the file holds {found.keys}")
    return ArrayDataset(np.array(found.images), found.labels, classes=found.classes, name=os.path.basename(found.path))


class NpzImages(torch.utils.data.Dataset):
    """The images of an .npz (split "train"), item by item, for `ucfast sanitize`: item i is
    (uint8 or float [3, H, W], label or -1, i), optionally resized and centre-cropped (uint8 only)."""

    def __init__(self, path: str, *, resize=None, crop=None, verify: bool = False):
        self.resize, self.crop = check_size(resize, "resize"), check_size(crop, "crop")
        self.verify = bool(verify)
        found = read_npz(path)
        self.path, self.images, self.layout = found.path, found.images, found.layout
        self.image_key, self.label_key, self.in_memory = found.image_key, found.label_key, found.in_memory
        self.classes = found.classes
        if self.images.dtype.kind == "f" and (self.resize or self.crop):
            raise ValueError(f"{path}: resize/crop need uint8 images, got dtype {self.images.dtype}")
        self.labels = (np.full(self.images.shape[0], -1, dtype=np.int64) if found.labels is None
                       else found.labels)

    def fingerprint(self) -> str:
        """The file's size, modification time (ns), keys, shape, dtype, first and last MiB (with verify:
        the sha256 of the whole file)."""
        digest = hashlib.sha256()
        size = os.path.getsize(self.path)
        digest.update(f"{self.image_key} {self.images.shape} {self.images.dtype} {self.label_key} ".encode()
                      + file_stamp(self.path, self.verify))
        with open(self.path, "rb") as f:
            digest.update(f.read(1 << 20))
            f.seek(max(0, size - (1 << 20)))
            digest.update(f.read(1 << 20))
        return digest.hexdigest()

    def __len__(self) -> int:
        return int(self.images.shape[0])

    def __getitem__(self, index: int):
        index = int(index)
        x = np.asarray(self.images[index])
        if self.layout == "NHW":
            x = x[..., None]
        elif self.layout == "NCHW":
            x = x.transpose(1, 2, 0)
        if x.shape[-1] == 1:
            x = np.repeat(x, 3, axis=-1)
        if self.resize or self.crop:
            x = resize_crop(Image.fromarray(np.ascontiguousarray(x)), self.resize, self.crop)
        image = torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1)))
        return image, int(self.labels[index]), index

    def collate(self, items):
        return collate_items(items, lambda i: f"{self.path}[{i}]")


def save_npz(dataset, path) -> None:
    """Write an `ArrayDataset` (or anything with `images` [N, 3, H, W] and `labels`) as images
    (uint8 N x 3 x H x W), labels (int64) and classes."""
    arrays = {"images": dataset.images.numpy(), "labels": np.asarray(dataset.labels, dtype=np.int64)}
    if getattr(dataset, "classes", None) is not None:
        arrays["classes"] = np.asarray([str(c) for c in dataset.classes])
    with open(path, "wb") as f:
        np.savez(f, **arrays)
