"""The inputs `sanitize` reads: an ImageFolder tree, WebDataset-style tar shards, or an .npz file
(read by `ucfast.data.npz`, with the same key rules as `ucfast.data.build("npz", ...)`).

Every source gives dataset positions 0..N-1, labels up front, a fingerprint (what the data is,
for refusing to resume over changed data), ids for the manifest, the positions where chunks must
break (shard ends), and a DataLoader over position ranges that yields `ucfast.data.folder.Batch`es.
"""
from __future__ import annotations

import glob
import os
from dataclasses import dataclass, field

import numpy as np
import torch

from ..data.folder import ImageFolder
from ..data.npz import NpzImages
from ..data.shards import TarShards

KINDS = ("folder", "shards", "npz")


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
                decode: bool = True, index_cache=None, verify: bool = False) -> Source:
    """Open the dataset `data` as a Source; `format` one of KINDS or None to detect it; `verify`: the
    fingerprint hashes the content of every file."""
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
        ds = ImageFolder(path, resize=resize, crop=crop, on_error=on_error, decode=decode, verify=verify)
        info = {"classes": len(ds.classes), "empty_class_folders": ds.empty_classes,
                "ignored_files": len(ds.ignored), "ignored_examples": ds.ignored[:10]}
        return Source("folder", shown, ds, ds.labels, ds.classes, ds.fingerprint,
                      np.array([0, len(ds)], dtype=np.int64), info)
    if format == "shards":
        ds = TarShards(path, resize=resize, crop=crop, on_error=on_error, decode=decode, index_cache=index_cache,
                        verify=verify)
        return Source("shards", shown, ds, ds.labels, None, ds.fingerprint, ds.boundaries(),
                      {"shards": len(ds.shards), "unlabelled": int((ds.labels < 0).sum())})
    if not decode:
        raise ValueError("GPU JPEG decoding needs encoded images (a folder or tar shards), not an .npz array")
    ds = NpzImages(path, resize=resize, crop=crop, verify=verify)
    info = {"image_key": ds.image_key, "label_key": ds.label_key, "layout": ds.layout,
            "dtype": str(ds.images.dtype), "loaded_in_memory": ds.in_memory}
    return Source("npz", shown, ds, ds.labels, ds.classes, ds.fingerprint(), np.array([0, len(ds)], dtype=np.int64),
                  info)
