"""The training stage's input: a sanitize `Source` (folder, tar shards, .npz) read item by item at the
positions being trained on, augmented per sample, through a DataLoader with a `DistributedSampler`.

The sampler's global order is the same for every world size (one permutation of seed + epoch); rank
r takes every world-th position of it, so the union of the ranks' k-th batches is the single
process's k-th batch of the global batch size. `ResumableSampler` starts an epoch part-way through
(a resumed run) by skipping what the interrupted one had already taken.
"""
from __future__ import annotations

import itertools

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, DistributedSampler

from .transforms import Augment


class TrainItems(Dataset):
    """Item k is (augmented uint8 [3, h, w] | Unreadable, label, dataset position positions[k])."""

    def __init__(self, source, positions: np.ndarray, augment: Augment):
        self.source, self.positions, self.augment = source, positions, augment
        self.epoch = 0

    def __len__(self) -> int:
        return int(self.positions.shape[0])

    def _read(self, index: int):
        dataset = self.source.dataset
        if self.source.kind == "shards":
            return next(iter(dataset.samples(index, index + 1)))
        return dataset[index]

    def __getitem__(self, k: int):
        image, label, index = self._read(int(self.positions[k]))
        if isinstance(image, torch.Tensor):
            image = self.augment(image, self.epoch, index)
        return image, label, index

    def collate(self, items):
        return self.source.dataset.collate(items)


class ResumableSampler(DistributedSampler):
    """`DistributedSampler` (shuffled, drop_last) whose epoch can start `skip` samples in."""

    def __init__(self, dataset, *, num_replicas: int, rank: int, seed: int):
        super().__init__(dataset, num_replicas=num_replicas, rank=rank, shuffle=True, seed=seed, drop_last=True)
        self.skip = 0

    def __iter__(self):
        return itertools.islice(super().__iter__(), self.skip, None)

    def __len__(self) -> int:
        return self.num_samples - self.skip


def train_loader(items: TrainItems, sampler: ResumableSampler, local_batch: int, workers: int,
                 pin_memory: bool) -> DataLoader:
    kw = dict(prefetch_factor=4) if workers else {}
    return DataLoader(items, batch_size=local_batch, sampler=sampler, drop_last=True, num_workers=workers,
                      collate_fn=items.collate, pin_memory=pin_memory, **kw)
