"""`PoisonedDataset`: the base of every attack, a dataset wrapper with the ground truth recorded.

An attack picks round(rate * N) positions with a seeded generator (dirty-label attacks among the
samples whose label is not the target, clean-label attacks among the target class only), puts its
trigger into those images and, for dirty-label attacks, sets their label to the target. It keeps
`poison_mask` (bool [N]), `poison_indices`, `target`, `rate` and `seed`; the same seed gives the
same poisoned set and the same pixels. Images stay un-normalised uint8 [3, H, W].

Subclasses implement `poison(images, ranks)` (the training-time poisoning of a batch of the
chosen images, `ranks` being their positions in `poison_indices`) and `apply_trigger(images)`
(the test-time trigger, for the attack success rate).
"""
from __future__ import annotations

import numpy as np
import torch

from ..data.arrays import ArrayDataset, batches, in_memory, labels_of, num_classes_of


def check_attack_args(dataset, target, rate, seed) -> tuple[np.ndarray, int]:
    """Validate the common arguments; returns (labels int64 [N], number of classes)."""
    if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0 < rate < 1:
        raise ValueError(f"rate must be a fraction in (0, 1) (the share of the training set poisoned), got {rate!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise ValueError(f"seed must be an integer, got {seed!r}")
    labels = labels_of(dataset)
    k = num_classes_of(dataset)
    if isinstance(target, bool) or not isinstance(target, (int, np.integer)) or not 0 <= target < k:
        raise ValueError(f"target must be a class index in 0..{k - 1} (the dataset has {k} classes), got {target!r}")
    return labels, k


def as_uint8_batch(images, name: str = "images") -> torch.Tensor:
    """uint8 [B, 3, H, W] from a uint8 [3, H, W] or [B, 3, H, W] tensor, else an error naming the problem."""
    if not isinstance(images, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(images).__name__}")
    if images.dtype != torch.uint8:
        raise TypeError(f"{name} must be uint8 0..255 (un-normalised), got dtype {images.dtype}")
    if images.dim() == 3:
        images = images.unsqueeze(0)
    if images.dim() != 4 or images.shape[1] != 3:
        raise ValueError(f"{name} must be 3 x H x W or B x 3 x H x W, got shape {tuple(images.shape)}")
    return images


def to_uint8(x: torch.Tensor) -> torch.Tensor:
    """Float pixels in 0..255 units -> uint8, rounded and clipped."""
    return x.round().clamp_(0, 255).to(torch.uint8)


class PoisonedDataset(torch.utils.data.Dataset):
    """A poisoned view of `dataset`: item i is (image, label) with image poisoned where poison_mask[i]."""

    name = "attack"
    clean_label = False

    def __init__(self, dataset, *, target: int = 0, rate: float = 0.1, seed: int = 0):
        labels, k = check_attack_args(dataset, target, rate, seed)
        n = labels.shape[0]
        count = int(round(rate * n))
        candidates = np.flatnonzero(labels == target) if self.clean_label else np.flatnonzero(labels != target)
        where = f"class {target}" if self.clean_label else f"the classes other than {target}"
        if count == 0:
            raise ValueError(f"rate={rate} of {n} samples poisons none; raise rate or use more samples")
        if count > candidates.size:
            raise ValueError(f"rate={rate} asks for {count} poisoned samples but {where} holds only"
                             f" {candidates.size} of the {n} samples")
        self.dataset = dataset
        self.target = int(target)
        self.rate = float(rate)
        self.seed = int(seed)
        self.classes = getattr(dataset, "classes", None) or [str(c) for c in range(k)]
        self.rng = np.random.default_rng([self.seed, 0x5EED])
        self.poison_indices = np.sort(self.rng.choice(candidates, count, replace=False)).astype(np.int64)
        self.poison_mask = np.zeros(n, dtype=bool)
        self.poison_mask[self.poison_indices] = True
        self._rank = np.full(n, -1, dtype=np.int64)
        self._rank[self.poison_indices] = np.arange(count)
        new_labels = labels.copy()
        if not self.clean_label:
            new_labels[self.poison_indices] = self.target
        self.labels = torch.from_numpy(new_labels)  # [N] int64, what the poisoned training set says
        self.clean_labels = torch.from_numpy(labels)
        self._images = None

    # --- what subclasses implement -------------------------------------------------------
    def poison(self, images: torch.Tensor, ranks: torch.Tensor) -> torch.Tensor:
        """Training-time poisoning of uint8 [B, 3, H, W] images; ranks [B] index poison_indices."""
        return self.apply_trigger(images)

    def apply_trigger(self, images: torch.Tensor) -> torch.Tensor:
        """Test-time trigger: uint8 [B, 3, H, W] (or [3, H, W]) -> the same shape, triggered."""
        raise NotImplementedError

    # --- dataset protocol -----------------------------------------------------------------
    def __len__(self) -> int:
        return int(self.poison_mask.shape[0])

    def __getitem__(self, index: int):
        index = int(index)
        if self._images is not None:
            return self._images[index], int(self.labels[index])
        image = self.dataset[index][0]
        if self.poison_mask[index]:
            image = self.poison(as_uint8_batch(image), torch.tensor([self._rank[index]]))[0]
        return image, int(self.labels[index])

    @property
    def images(self) -> torch.Tensor:
        """All images as one uint8 [N, 3, H, W] tensor (poisoned where poison_mask), built once;
        only for datasets held in memory."""
        if self._images is None:
            if not in_memory(self.dataset):
                raise AttributeError(f"{type(self.dataset).__name__} is not held in memory; read items instead")
            images = self.dataset.images.clone()
            for start in range(0, self.poison_indices.size, 1024):
                idx = torch.from_numpy(self.poison_indices[start:start + 1024])
                images[idx] = self.poison(images[idx], torch.arange(start, start + idx.numel()))
            self._images = images
        return self._images

    def materialise(self) -> "PoisonedDataset":
        """Build the poisoned image tensor now when the dataset is held in memory; returns self."""
        if in_memory(self.dataset):
            self.images  # noqa: B018  (the property builds and caches the tensor)
        return self

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def poisoned_count(self) -> int:
        return int(self.poison_indices.size)

    def test_set(self, dataset) -> ArrayDataset:
        """The attack-success-rate set: every image of `dataset` whose label is not the target, with
        the test-time trigger applied; labels stay the true ones."""
        labels = labels_of(dataset)
        keep = np.flatnonzero(labels != self.target)
        parts = [self.apply_trigger(as_uint8_batch(images)) for images, _, _ in batches(dataset, 1024, indices=keep)]
        images = torch.cat(parts) if parts else torch.empty((0, 3, 1, 1), dtype=torch.uint8)
        return ArrayDataset(images, torch.from_numpy(labels[keep]), classes=self.classes, name=f"{self.name}-test")

    def summary(self) -> dict:
        """The attack's settings and ground truth counts, JSON-ready."""
        return {"attack": self.name, "target": self.target, "rate": self.rate, "seed": self.seed,
                "clean_label": self.clean_label, "poisoned": self.poisoned_count, "samples": len(self)}

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(target={self.target}, rate={self.rate}, seed={self.seed},"
                f" poisoned={self.poisoned_count}/{len(self)})")
