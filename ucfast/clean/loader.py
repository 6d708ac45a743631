"""The training stage's input: a sanitize `Source` (folder, tar shards, .npz) read item by item at the
positions being trained on, augmented per sample, through a DataLoader with a `DistributedSampler`.

`GlobalBatches` is a DistributedSampler (seed + epoch -> one permutation, the same for every world
size; drop_last) that hands each rank a contiguous slice of every global batch instead of every
world-th sample: global batch k is permutation[k*B:(k+1)*B] and rank r takes its r-th slice of B/world.
So the micro-batches of all ranks together are exactly the single process's micro-batches of that
batch, whatever the world size. It starts an epoch `skip` samples in (a resumed run).
"""
from __future__ import annotations

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


class GlobalBatches(DistributedSampler):
    """This rank's share of every global batch of `global_batch` positions (see the module doc)."""

    def __init__(self, dataset, *, num_replicas: int, rank: int, seed: int, global_batch: int):
        super().__init__(dataset, num_replicas=num_replicas, rank=rank, shuffle=True, seed=seed, drop_last=True)
        self.global_batch, self.local_batch = global_batch, global_batch // num_replicas
        self.steps = len(dataset) // global_batch
        self.skip = 0

    def __iter__(self):
        generator = torch.Generator()
        generator.manual_seed(self.seed + self.epoch)  # DistributedSampler's own permutation of the epoch
        order = torch.randperm(len(self.dataset), generator=generator)[:self.steps * self.global_batch]
        mine = order.reshape(self.steps, self.num_replicas, self.local_batch)[:, self.rank].reshape(-1)
        return iter(mine[self.skip:].tolist())

    def __len__(self) -> int:
        return self.steps * self.local_batch - self.skip


def train_loader(items: TrainItems, sampler: GlobalBatches, local_batch: int, workers: int,
                 pin_memory: bool) -> DataLoader:
    kw = dict(prefetch_factor=4) if workers else {}
    return DataLoader(items, batch_size=local_batch, sampler=sampler, drop_last=True, num_workers=workers,
                      collate_fn=items.collate, pin_memory=pin_memory, **kw)
