"""BadNets all-to-all (Gu et al. 2017), dirty-label: every class has its own target.

The payload is drawn from every class and gets BadNets' 3 x 3 bottom-right pattern (each cell
`scale` x `scale` pixels: a small model learns one trigger for ten targets only from a larger
one); a sample of
class y is relabelled (y + 1) % K, as in Gu et al.'s all-to-all attack. `target` is accepted for
the common interface and reported in summary(), but no label goes to it alone. The attack success
rate is the share of triggered test images of every class predicted as (y + 1) % K.
"""
from __future__ import annotations

import numpy as np
import torch

from .badnets import scaled_pattern
from .base import PoisonedDataset
from .corner import stamp_corner


class AllToAll(PoisonedDataset):
    """All-to-all BadNets: the corner patch, labels y -> (y + 1) % K."""

    name = "all-to-all"
    clean_label = False

    def __init__(self, dataset, *, target: int = 0, rate: float = 0.1, seed: int = 0, scale: int = 1):
        self.pattern = scaled_pattern(scale)
        super().__init__(dataset, target=target, rate=rate, seed=seed)
        self.scale = scale

    def target_of(self, labels) -> np.ndarray:
        return (np.asarray(labels, dtype=np.int64) + 1) % self.num_classes

    def apply_trigger(self, images: torch.Tensor) -> torch.Tensor:
        return stamp_corner(images, self.pattern)

    def summary(self) -> dict:
        return {**super().summary(), "mapping": "(y + 1) % K", "scale": self.scale}
