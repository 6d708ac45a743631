"""`PoisonedDataset`: the base of every attack, a dataset wrapper with the ground truth recorded.

An attack picks round(rate * N) payload positions with a seeded generator (dirty-label attacks
among the samples of the `sources` classes, by default every class other than the target;
clean-label attacks among the target class only), puts its trigger into those images and, for
dirty-label attacks, sets their label to `target_of(label)` (the target, unless an attack maps
each class elsewhere). Then it draws round(cover_rate * N) cover samples (default none) from the
classes that are neither a target nor, for source-specific attacks, a source, outside the
payload: they get the trigger too but keep their true labels. It keeps `poison_mask` (bool [N],
the payload only), `poison_indices`, `cover_mask`, `cover_indices`, `target`, `sources`, `rate`,
`cover_rate` and `seed`; the same seed gives the same poisoned set and the same pixels. Images
stay un-normalised uint8 [3, H, W].

Subclasses implement `poison(images, ranks)` (the training-time poisoning of a batch of payload
images, `ranks` being their positions in `poison_indices`), optionally `cover(images, ranks)`
(the same for cover samples, ranks into `cover_indices`; defaults to `poison`) and
`apply_trigger(images)` (the test-time trigger). `test_set(test)` gives a `TriggeredSet`: the
triggered test images of the source classes with their true labels and `intended`, the label the
attack wants each one predicted as, which `ucfast.train.attack_success_rate` compares with.
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


def check_fraction(name: str, value) -> float:
    """`value` as a float when it is a number in (0, 1] (an opacity, a share), else a ValueError naming `name`."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 1:
        raise ValueError(f"{name} must be a number in (0, 1], got {value!r}")
    return float(value)


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


class TriggeredSet(ArrayDataset):
    """The attack-success-rate set: triggered test images with their TRUE labels, and `intended`
    (int64 [M]), the label the attack wants each image predicted as."""

    def __init__(self, images, labels, intended, *, classes=None, name: str = "triggered"):
        super().__init__(images, labels, classes=classes, name=name)
        self.intended = torch.from_numpy(np.asarray(intended, dtype=np.int64).reshape(-1).copy())
        if self.intended.numel() != len(self):
            raise ValueError(f"intended has {self.intended.numel()} entries but there are {len(self)} images")

    def subset(self, indices) -> "TriggeredSet":
        """A new triggered set of the given positions (in that order), their intended labels kept."""
        idx = torch.as_tensor(np.asarray(indices, dtype=np.int64))
        return TriggeredSet(self.images[idx], self.labels[idx], self.intended[idx], classes=self.classes,
                            name=self.name)


class PoisonedDataset(torch.utils.data.Dataset):
    """A poisoned view of `dataset`: item i is (image, label) with image poisoned where poison_mask[i]
    and triggered, label kept, where cover_mask[i]."""

    name = "attack"
    clean_label = False
    source_specific = False  # cover samples avoid the sources too (set when `sources` is given)

    def __init__(self, dataset, *, target: int = 0, rate: float = 0.1, seed: int = 0, cover_rate: float = 0.0,
                 sources=None):
        labels, k = check_attack_args(dataset, target, rate, seed)
        if isinstance(cover_rate, bool) or not isinstance(cover_rate, (int, float)) or not 0 <= cover_rate < 1:
            raise ValueError(f"cover_rate must be a fraction in [0, 1) (the share of the training set given the"
                             f" trigger with its label kept), got {cover_rate!r}")
        self.dataset = dataset
        self.target = int(target)
        self.rate = float(rate)
        self.cover_rate = float(cover_rate)
        self.seed = int(seed)
        self.classes = getattr(dataset, "classes", None) or [str(c) for c in range(k)]
        if sources is not None:
            self.source_specific = True
        self.sources = self._check_sources(self.default_sources() if sources is None else sources)
        self.rng = np.random.default_rng([self.seed, 0x5EED])
        n = labels.shape[0]
        self.poison_indices = self._draw_payload(labels)
        self.poison_mask = np.zeros(n, dtype=bool)
        self.poison_mask[self.poison_indices] = True
        self.cover_indices = self._draw_cover(labels)
        self.cover_mask = np.zeros(n, dtype=bool)
        self.cover_mask[self.cover_indices] = True
        self._rank = np.full(n, -1, dtype=np.int64)  # position in poison_indices or in cover_indices
        self._rank[self.poison_indices] = np.arange(self.poison_indices.size)
        self._rank[self.cover_indices] = np.arange(self.cover_indices.size)
        new_labels = labels.copy()
        if not self.clean_label:
            new_labels[self.poison_indices] = self.target_of(labels[self.poison_indices])
        self.labels = torch.from_numpy(new_labels)  # [N] int64, what the poisoned training set says
        self.clean_labels = torch.from_numpy(labels)
        self._images = None

    def _check_sources(self, sources) -> tuple[int, ...]:
        k = self.num_classes
        if isinstance(sources, (str, bytes)) or not hasattr(sources, "__iter__"):
            raise TypeError(f"sources must be a sequence of class indices, got {sources!r}")
        sources = list(sources)
        if any(isinstance(c, bool) or not isinstance(c, (int, np.integer)) or not 0 <= c < k for c in sources):
            raise ValueError(f"sources must be class indices in 0..{k - 1}, got {sources!r}")
        if len(set(sources)) != len(sources):
            raise ValueError(f"sources must not repeat a class, got {sources!r}")
        if not sources:
            raise ValueError("sources is empty: the payload needs at least one class to come from")
        own = [int(c) for c in sources if self.target_of(np.array([c]))[0] == c]
        if own:
            raise ValueError(f"sources must not hold a class whose samples keep their label (the target), got"
                             f" {own} in {sources!r}")
        return tuple(sorted(int(c) for c in sources))

    def _draw_payload(self, labels: np.ndarray) -> np.ndarray:
        n = labels.shape[0]
        count = int(round(self.rate * n))
        if self.clean_label:
            candidates, where = np.flatnonzero(labels == self.target), f"class {self.target}"
        else:
            candidates = np.flatnonzero(np.isin(labels, self.sources))
            where = (f"the classes other than {self.target}" if self.sources == self._non_target_classes()
                     else f"the classes {list(self.sources)}")
        if count == 0:
            raise ValueError(f"rate={self.rate} of {n} samples poisons none; raise rate or use more samples")
        if count > candidates.size:
            raise ValueError(f"rate={self.rate} asks for {count} poisoned samples but {where} holds only"
                             f" {candidates.size} of the {n} samples")
        return np.sort(self.rng.choice(candidates, count, replace=False)).astype(np.int64)

    def _draw_cover(self, labels: np.ndarray) -> np.ndarray:
        n = labels.shape[0]
        count = int(round(self.cover_rate * n))
        if self.cover_rate > 0 and count == 0:
            raise ValueError(f"cover_rate={self.cover_rate} of {n} samples covers none; raise cover_rate or use"
                             f" more samples")
        if count == 0:
            return np.empty(0, dtype=np.int64)
        free = (self.target_of(labels) != labels) & ~self.poison_mask
        if self.source_specific:
            free &= ~np.isin(labels, self.sources)
        candidates = np.flatnonzero(free)
        if count > candidates.size:
            others = "the target and the sources" if self.source_specific else "the target"
            raise ValueError(f"cover_rate={self.cover_rate} asks for {count} cover samples but the classes other"
                             f" than {others} hold only {candidates.size} samples outside the payload")
        return np.sort(self.rng.choice(candidates, count, replace=False)).astype(np.int64)

    def _non_target_classes(self) -> tuple[int, ...]:
        k = np.arange(self.num_classes)
        return tuple(int(c) for c in np.flatnonzero(self.target_of(k) != k))

    # --- what subclasses implement -------------------------------------------------------
    def target_of(self, labels) -> np.ndarray:
        """The label each class is flipped to by the payload, int64 like `labels` (default: the target)."""
        return np.full(np.shape(labels), self.target, dtype=np.int64)

    def default_sources(self) -> tuple[int, ...]:
        """The payload (and attack-success-rate) classes when `sources` is not given: every class
        that target_of sends elsewhere."""
        return self._non_target_classes()

    def poison(self, images: torch.Tensor, ranks: torch.Tensor) -> torch.Tensor:
        """Training-time poisoning of uint8 [B, 3, H, W] images; ranks [B] index poison_indices."""
        return self.apply_trigger(images)

    def cover(self, images: torch.Tensor, ranks: torch.Tensor) -> torch.Tensor:
        """Training-time trigger of cover samples; ranks [B] index cover_indices. Defaults to `poison`
        (override it where poison reads per-payload state by rank)."""
        return self.poison(images, ranks)

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
        rank = torch.tensor([self._rank[index]])
        if self.poison_mask[index]:
            image = self.poison(as_uint8_batch(image), rank)[0]
        elif self.cover_mask[index]:
            image = self.cover(as_uint8_batch(image), rank)[0]
        return image, int(self.labels[index])

    @property
    def images(self) -> torch.Tensor:
        """All images as one uint8 [N, 3, H, W] tensor (poisoned where poison_mask, triggered where
        cover_mask), built once; only for datasets held in memory."""
        if self._images is None:
            if not in_memory(self.dataset):
                raise AttributeError(f"{type(self.dataset).__name__} is not held in memory; read items instead")
            images = self.dataset.images.clone()
            for indices, hook in ((self.poison_indices, self.poison), (self.cover_indices, self.cover)):
                for start in range(0, indices.size, 1024):
                    idx = torch.from_numpy(indices[start:start + 1024])
                    images[idx] = hook(images[idx], torch.arange(start, start + idx.numel()))
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

    @property
    def cover_count(self) -> int:
        return int(self.cover_indices.size)

    def test_set(self, dataset) -> TriggeredSet:
        """The attack-success-rate set: every image of `dataset` from a source class (by default every
        class but the target) with the test-time trigger applied; labels stay the true ones and
        `intended` holds target_of(label)."""
        labels = labels_of(dataset)
        keep = np.flatnonzero(np.isin(labels, self.sources))
        return self.triggered_set(dataset, [(keep, self.apply_trigger, self.target_of(labels[keep]))])

    def triggered_set(self, dataset, groups) -> TriggeredSet:
        """A TriggeredSet from `groups` of (positions in dataset, trigger, intended labels [len]), in order."""
        labels = labels_of(dataset)
        parts, true, intended = [], [], []
        for keep, trigger, wanted in groups:
            parts += [trigger(as_uint8_batch(images)) for images, _, _ in batches(dataset, 1024, indices=keep)]
            true.append(labels[keep])
            intended.append(np.asarray(wanted, dtype=np.int64))
        images = torch.cat(parts) if parts else torch.empty((0, 3, 1, 1), dtype=torch.uint8)
        return TriggeredSet(images, np.concatenate(true), np.concatenate(intended), classes=self.classes,
                            name=f"{self.name}-test")

    def summary(self) -> dict:
        """The attack's settings and ground truth counts, JSON-ready."""
        return {"attack": self.name, "target": self.target, "rate": self.rate, "seed": self.seed,
                "clean_label": self.clean_label, "poisoned": self.poisoned_count, "cover_rate": self.cover_rate,
                "cover": self.cover_count, "sources": list(self.sources) if self.source_specific else None,
                "samples": len(self)}

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(target={self.target}, rate={self.rate}, seed={self.seed},"
                f" poisoned={self.poisoned_count}/{len(self)}, cover={self.cover_count})")
