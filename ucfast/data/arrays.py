"""In-memory datasets, the index wrapper the scoring loader needs, and batch iteration.

Every dataset here yields (image, label) with the image un-normalised uint8 [3, H, W], as
`ucfast.score` and `ucfast.train` expect. `ArrayDataset` holds all images as one uint8
[N, 3, H, W] tensor; code that finds an `images` tensor and a `labels` attribute on a dataset
slices batches from them directly instead of going through a DataLoader.
"""
from __future__ import annotations

import math

import numpy as np
import torch

from ..images import as_tensor


def _images_nchw(images, name: str) -> torch.Tensor:
    """uint8 [N, 3, H, W] from [N, 3, H, W], [N, H, W, 3], [N, 1, H, W], [N, H, W, 1] or [N, H, W];
    float input must be 0..1 and is rounded to 8 bits."""
    images = as_tensor(images, name)
    if images.dim() == 3:
        images = images.unsqueeze(1)
    if images.dim() != 4:
        raise ValueError(f"{name} must be N x 3 x H x W, N x H x W x 3 or N x H x W, got shape {tuple(images.shape)}")
    if images.shape[1] not in (1, 3) and images.shape[-1] in (1, 3):
        images = images.permute(0, 3, 1, 2)
    if images.shape[1] not in (1, 3):
        raise ValueError(f"{name} must have 1 or 3 channels (N x C x H x W or N x H x W x C), got shape"
                         f" {tuple(images.shape)}")
    if images.dtype.is_floating_point:
        if images.numel() and (not bool(torch.isfinite(images).all()) or images.min() < 0 or images.max() > 1):
            raise ValueError(f"float {name} must lie in 0..1 (or pass uint8 0..255)")
        images = torch.round(images.float() * 255.0).to(torch.uint8)
    elif images.dtype != torch.uint8:
        if images.numel() and (images.min() < 0 or images.max() > 255):
            raise ValueError(f"integer {name} must lie in 0..255, got dtype {images.dtype}")
        images = images.to(torch.uint8)
    if images.shape[1] == 1:
        images = images.expand(-1, 3, -1, -1)
    return images.contiguous()


def _labels_1d(labels, n: int, name: str = "labels") -> torch.Tensor:
    labels = torch.as_tensor(np.asarray(labels)) if not isinstance(labels, torch.Tensor) else labels
    labels = labels.reshape(-1)
    if labels.dtype.is_floating_point or labels.dtype == torch.bool:
        raise TypeError(f"{name} must be integers, got dtype {labels.dtype}")
    if labels.numel() != n:
        raise ValueError(f"{name} has {labels.numel()} entries but there are {n} images")
    if n and int(labels.min()) < 0:
        raise ValueError(f"{name} must be non-negative class indices, got {int(labels.min())}")
    return labels.to(torch.int64)


class ArrayDataset(torch.utils.data.Dataset):
    """Images and labels held in memory: item i is (uint8 [3, H, W], int label).

    images: uint8 (or float 0..1) N x 3 x H x W, N x H x W x 3 or grey N x H x W (repeated to 3
    channels); labels: N integers. classes: the class names (default "0".."K-1").
    """

    def __init__(self, images, labels, *, classes=None, name: str = "arrays"):
        self.images = _images_nchw(images, "images")  # [N, 3, H, W] uint8
        self.labels = _labels_1d(labels, self.images.shape[0])  # [N] int64
        k = int(self.labels.max()) + 1 if self.labels.numel() else 0
        self.classes = [str(c) for c in range(k)] if classes is None else list(classes)
        if len(self.classes) < k:
            raise ValueError(f"labels reach class {k - 1} but only {len(self.classes)} class names were given")
        self.name = name
        self._stats = None

    def __len__(self) -> int:
        return int(self.images.shape[0])

    def __getitem__(self, index: int):
        return self.images[index], int(self.labels[index])

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def subset(self, indices) -> "ArrayDataset":
        """A new dataset of the given positions (in that order)."""
        idx = torch.as_tensor(np.asarray(indices, dtype=np.int64))
        return ArrayDataset(self.images[idx], self.labels[idx], classes=self.classes, name=self.name)

    def __repr__(self) -> str:
        shape = tuple(self.images.shape[1:])
        return f"ArrayDataset(name={self.name!r}, n={len(self)}, image_shape={shape}, classes={self.num_classes})"


class WithIndex(torch.utils.data.Dataset):
    """Wraps a dataset so item i is (image, label, i): loaders that shuffle then still tell
    `ucfast.score` which dataset position each sample is. Other attributes pass through."""

    def __init__(self, dataset):
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int):
        item = self.dataset[index]
        return item[0], item[1], index

    def __getattr__(self, name: str):
        if name == "dataset" or name.startswith("__"):
            raise AttributeError(name)
        return getattr(self.dataset, name)

    def __repr__(self) -> str:
        return f"WithIndex({self.dataset!r})"


def labels_of(dataset) -> np.ndarray:
    """The labels of every item as int64 [N]: from a `labels` or `targets` attribute when the
    dataset has one, else by reading every item."""
    for attr in ("labels", "targets"):
        values = getattr(dataset, attr, None)
        if values is not None:
            values = values.numpy() if isinstance(values, torch.Tensor) else np.asarray(values)
            return values.astype(np.int64).reshape(-1)
    return np.fromiter((int(dataset[i][1]) for i in range(len(dataset))), dtype=np.int64, count=len(dataset))


def num_classes_of(dataset) -> int:
    """Number of classes: len(dataset.classes) when present, else the largest label + 1."""
    classes = getattr(dataset, "classes", None)
    if classes is not None:
        return len(classes)
    labels = labels_of(dataset)
    return int(labels.max()) + 1 if labels.size else 0


def in_memory(dataset) -> bool:
    """Whether the dataset exposes all its images as one uint8 [N, 3, H, W] tensor."""
    images = getattr(dataset, "images", None)
    return isinstance(images, torch.Tensor) and images.dim() == 4 and images.shape[0] == len(dataset)


def stats(dataset, max_samples: int = 50_000, seed: int = 0) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and std of the pixels in 0..1 units (over at most `max_samples` images)."""
    n = len(dataset)
    if n == 0:
        raise ValueError("cannot compute mean/std of an empty dataset")
    pick = np.arange(n) if n <= max_samples else np.sort(np.random.default_rng(seed).choice(n, max_samples, False))
    total = torch.zeros(3, dtype=torch.float64)
    total_sq = torch.zeros(3, dtype=torch.float64)
    count = 0
    for images, _, _ in batches(dataset, 1024, indices=pick):
        x = images.to(torch.float64) / 255.0
        total += x.sum((0, 2, 3))
        total_sq += (x * x).sum((0, 2, 3))
        count += x.shape[0] * x.shape[2] * x.shape[3]
    mean = total / count
    std = (total_sq / count - mean * mean).clamp_min(1e-12).sqrt()
    return tuple(float(v) for v in mean), tuple(float(v) for v in std)


class _Batches:
    """(images uint8 [B, 3, H, W], labels int64 [B], indices int64 [B]) sliced from tensors in memory."""

    def __init__(self, images: torch.Tensor, labels, order: np.ndarray, batch_size: int):
        self.images = images
        self.labels = torch.as_tensor(np.asarray(labels, dtype=np.int64)) if not isinstance(labels, torch.Tensor) \
            else labels.to(torch.int64)
        self.order = torch.as_tensor(order, dtype=torch.int64)
        self.batch_size = batch_size

    def __len__(self) -> int:
        return math.ceil(self.order.numel() / self.batch_size)

    def __iter__(self):
        for start in range(0, self.order.numel(), self.batch_size):
            idx = self.order[start:start + self.batch_size]
            yield self.images[idx], self.labels[idx], idx


def _collate(items):
    images = torch.stack([torch.as_tensor(item[0]) for item in items])
    labels = torch.as_tensor([int(item[1]) for item in items], dtype=torch.int64)
    indices = torch.as_tensor([int(item[2]) for item in items], dtype=torch.int64)
    return images, labels, indices


def batches(dataset, batch_size: int = 256, *, shuffle: bool = False, seed: int = 0, indices=None,
            num_workers: int = 0):
    """Iterate (images, labels, dataset indices) in batches, optionally over `indices` only and in a
    seeded random order. In-memory datasets are sliced directly; others go through a DataLoader."""
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    order = np.arange(len(dataset), dtype=np.int64) if indices is None else np.asarray(indices, dtype=np.int64)
    if shuffle:
        order = np.random.default_rng(seed).permutation(order)
    if in_memory(dataset):
        return _Batches(dataset.images, dataset.labels, order, batch_size)
    return torch.utils.data.DataLoader(WithIndex(dataset), batch_size=batch_size, sampler=order.tolist(),
                                       num_workers=num_workers, collate_fn=_collate)
