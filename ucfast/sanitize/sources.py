"""The inputs `sanitize` reads: an ImageFolder tree, WebDataset-style tar shards, or an .npz file.

Every source gives dataset positions 0..N-1, labels up front, a fingerprint (what the data is,
for refusing to resume over changed data), ids for the manifest, the positions where chunks must
break (shard ends), and a DataLoader over position ranges that yields `ucfast.data.folder.Batch`es.
"""
from __future__ import annotations

import glob
import hashlib
import os
import zipfile
from dataclasses import dataclass, field

import numpy as np
import torch

from ..data.folder import ImageFolder, check_size, collate_items, resize_crop
from ..data.shards import TarShards

KINDS = ("folder", "shards", "npz")
IMAGE_KEYS = ("images", "train_images", "image", "x", "X", "data", "imgs", "x_train")
LABEL_KEYS = ("labels", "train_labels", "label", "y", "Y", "targets", "target", "y_train")


@dataclass
class Source:
    kind: str  # one of KINDS
    path: str  # what the user gave, made absolute
    dataset: object  # ImageFolder | TarShards | NpzImages
    labels: np.ndarray  # [N] int64, -1 for unlabelled samples
    classes: list | None  # class names where the source has them
    fingerprint: str
    breaks: np.ndarray  # positions chunks must not cross: 0, shard starts, N
    info: dict = field(default_factory=dict)  # for report.json

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    @property
    def id_kind(self) -> str:
        return {"folder": "path", "shards": "key", "npz": "index"}[self.kind]

    def ids(self, start: int, stop: int) -> list[str]:
        """Manifest ids of positions start..stop-1: file paths, '<shard>:<key>', or ''."""
        if self.kind == "folder":
            return [self.dataset.paths[i] for i in range(start, stop)]
        if self.kind == "shards":
            return [self.dataset.sample_id(i) for i in range(start, stop)]
        return [""] * (stop - start)

    def loader(self, ranges, batch_size: int, workers: int, pin_memory: bool):
        """Batches over the given position ranges (in order per range; no batch crosses a range)."""
        kw = dict(num_workers=workers, pin_memory=pin_memory)
        if workers:
            kw.update(prefetch_factor=4, persistent_workers=False)
        if self.kind == "shards":
            return torch.utils.data.DataLoader(self.dataset.stream(ranges, batch_size), batch_size=None, **kw)
        return torch.utils.data.DataLoader(self.dataset, batch_sampler=RangeBatches(ranges, batch_size),
                                           collate_fn=self.dataset.collate, **kw)


class RangeBatches:
    """A lazy batch sampler: consecutive batches of `batch_size` positions inside each range."""

    def __init__(self, ranges, batch_size: int):
        self.ranges, self.batch_size = ranges, batch_size

    def __iter__(self):
        for start, stop in self.ranges:
            for s in range(start, stop, self.batch_size):
                yield range(s, min(s + self.batch_size, stop))

    def __len__(self) -> int:
        return sum(-(-(b - a) // self.batch_size) for a, b in self.ranges)


def _npz_member(path: str, name: str):
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
        raise ValueError(f"{path}: member {name} holds Python objects, not an image array")
    return np.memmap(path, dtype=dtype, mode="r", offset=offset, shape=shape, order="F" if fortran else "C")


class NpzImages(torch.utils.data.Dataset):
    """Images and labels from an .npz: images N x H x W x C, N x C x H x W or N x H x W (grey);
    uint8 0..255 or float 0..1. Uncompressed members are memory-mapped, compressed ones loaded."""

    def __init__(self, path: str, *, resize=None, crop=None, image_key=None, label_key=None):
        self.path = path
        self.resize, self.crop = check_size(resize, "resize"), check_size(crop, "crop")
        with np.load(path, allow_pickle=False) as z:
            names = list(z.files)
        image_key = image_key or next((k for k in IMAGE_KEYS if k in names), None)
        if image_key is None or image_key not in names:
            raise ValueError(f"{path}: no image array among its keys {names}; expected one of {IMAGE_KEYS}")
        label_key = label_key or next((k for k in LABEL_KEYS if k in names), None)
        self.image_key, self.label_key = image_key, label_key
        self.in_memory = []
        self.images = self._array(image_key)
        x = self.images
        if x.ndim == 3:
            self.layout = "NHW"
        elif x.ndim == 4 and x.shape[-1] in (1, 3):
            self.layout = "NHWC"
        elif x.ndim == 4 and x.shape[1] in (1, 3):
            self.layout = "NCHW"
        else:
            raise ValueError(f"{path}: images {image_key!r} must be N x H x W x C, N x C x H x W (C = 1 or 3) or"
                             f" N x H x W, got shape {x.shape}")
        if x.dtype != np.uint8 and x.dtype.kind != "f":
            raise ValueError(f"{path}: images must be uint8 (0..255) or float (0..1), got dtype {x.dtype}")
        if x.dtype.kind == "f" and (self.resize or self.crop):
            raise ValueError(f"{path}: resize/crop need uint8 images, got dtype {x.dtype}")
        if label_key is None:
            self.labels = np.full(x.shape[0], -1, dtype=np.int64)
        else:
            labels = np.asarray(self._array(label_key)).reshape(-1)
            if labels.shape[0] != x.shape[0] or labels.dtype.kind not in "iu":
                raise ValueError(f"{path}: labels {label_key!r} must be {x.shape[0]} integers, got shape"
                                 f" {labels.shape} dtype {labels.dtype}")
            self.labels = labels.astype(np.int64)

    def _array(self, key: str):
        member = _npz_member(self.path, key + ".npy")
        if member is None:
            self.in_memory.append(key)
            with np.load(self.path, allow_pickle=False) as z:
                return z[key]
        return member

    def fingerprint(self) -> str:
        digest = hashlib.sha256()
        size = os.path.getsize(self.path)
        digest.update(f"{size} {self.image_key} {self.images.shape} {self.images.dtype} {self.label_key}".encode())
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
            from PIL import Image

            x = resize_crop(Image.fromarray(np.ascontiguousarray(x)), self.resize, self.crop)
        image = torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1)))
        return image, int(self.labels[index]), index

    def collate(self, items):
        return collate_items(items, lambda i: f"{self.path}[{i}]")


def detect(path: str) -> str:
    if os.path.isdir(path):
        has_tar = bool(glob.glob(os.path.join(glob.escape(path), "*.tar")))
        has_dirs = any(e.is_dir() for e in os.scandir(path))
        return "shards" if has_tar and not has_dirs else "folder"
    if path.endswith(".npz"):
        return "npz"
    if path.endswith(".tar") or "{" in path or glob.has_magic(path):
        return "shards"
    raise ValueError(f"cannot tell the format of {path!r}: give a folder (ImageFolder tree or folder of .tar"
                     " shards), .tar shard(s) or an .npz file, or name it with format= (CLI --format)")


def open_source(data, *, format: str | None = None, resize=None, crop=None, on_error: str = "raise",
                decode: bool = True, index_cache=None) -> Source:
    """Open the dataset `data` as a Source; `format` one of KINDS or None to detect it."""
    if isinstance(data, (list, tuple)):
        path, format = [os.path.abspath(os.fspath(p)) for p in data], format or "shards"
        shown = path[0] if len(path) == 1 else f"{path[0]} (+{len(path) - 1} more)"
    else:
        path = os.fspath(data)
        has_pattern = "{" in path or glob.has_magic(path)
        if not has_pattern and not os.path.exists(path):
            raise FileNotFoundError(f"data: {path!r} does not exist")
        path = os.path.abspath(path)
        shown = path
        format = format or detect(path)
    if format not in KINDS:
        raise ValueError(f"format must be one of {KINDS}, got {format!r}")
    if format == "folder":
        ds = ImageFolder(path, resize=resize, crop=crop, on_error=on_error, decode=decode)
        info = {"classes": len(ds.classes), "empty_class_folders": ds.empty_classes,
                "ignored_files": len(ds.ignored), "ignored_examples": ds.ignored[:10]}
        return Source("folder", shown, ds, ds.labels, ds.classes, ds.fingerprint,
                      np.array([0, len(ds)], dtype=np.int64), info)
    if format == "shards":
        ds = TarShards(path, resize=resize, crop=crop, on_error=on_error, decode=decode, index_cache=index_cache)
        return Source("shards", shown, ds, ds.labels, None, ds.fingerprint, ds.boundaries(),
                      {"shards": len(ds.shards), "unlabelled": int((ds.labels < 0).sum())})
    if not decode:
        raise ValueError("GPU JPEG decoding needs encoded images (a folder or tar shards), not an .npz array")
    ds = NpzImages(path, resize=resize, crop=crop)
    info = {"image_key": ds.image_key, "label_key": ds.label_key, "layout": ds.layout,
            "dtype": str(ds.images.dtype), "loaded_in_memory": ds.in_memory}
    return Source("npz", shown, ds, ds.labels, None, ds.fingerprint(), np.array([0, len(ds)], dtype=np.int64), info)
