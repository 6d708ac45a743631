"""Two triggers, two targets, dirty-label: a BadNets variant with two backdoors in one set.

The payload is drawn from the classes other than both targets. A seeded half of it (the larger
half when the count is odd) gets BadNets' 3 x 3 pattern in the bottom-right corner and the label
`target`; the other half gets the inverted pattern (255 - PATTERN) in the top-left corner and the
label `second_target` (default (target + 1) % K). The attack success rate pools both backdoors:
each test image not of class `target` with the first trigger, intended for `target`, and each one
not of class `second_target` with the second trigger, intended for `second_target`.
"""
from __future__ import annotations

import numpy as np
import torch

from ..data.arrays import labels_of
from .badnets import PATTERN
from .base import PoisonedDataset, TriggeredSet, check_attack_args
from .corner import stamp_corner

SECOND_PATTERN = 255 - PATTERN  # [3, 3]


class TwoTargets(PoisonedDataset):
    """Two backdoors: bottom-right pattern -> target, inverted top-left pattern -> second_target."""

    name = "two-targets"
    clean_label = False

    def __init__(self, dataset, *, target: int = 0, rate: float = 0.1, seed: int = 0, second_target: int | None = None):
        _, k = check_attack_args(dataset, target, rate, seed)
        if second_target is None:
            second_target = (target + 1) % k
        if isinstance(second_target, bool) or not isinstance(second_target, (int, np.integer)) \
                or not 0 <= second_target < k or second_target == target:
            raise ValueError(f"second_target must be a class index in 0..{k - 1} other than target={target},"
                             f" got {second_target!r}")
        self.second_target = int(second_target)
        super().__init__(dataset, target=target, rate=rate, seed=seed)
        count = self.poisoned_count
        if count < 2:
            raise ValueError(f"rate={rate} poisons {count} sample(s) but two-targets needs at least 2, one per"
                             f" trigger; raise rate")
        self._second = self.rng.permutation(count) < count // 2  # [P] bool: payload rank has the second trigger
        self.labels[torch.from_numpy(self.poison_indices[self._second])] = self.second_target

    def default_sources(self) -> tuple[int, ...]:
        return tuple(c for c in range(self.num_classes) if c not in (self.target, self.second_target))

    def poison(self, images: torch.Tensor, ranks: torch.Tensor) -> torch.Tensor:
        second = torch.from_numpy(self._second[ranks.numpy()])
        out = self.apply_trigger(images)
        out[second] = self.apply_second_trigger(images[second])
        return out

    def apply_trigger(self, images: torch.Tensor) -> torch.Tensor:
        """The first trigger (to `target`): the pattern in the bottom-right corner."""
        return stamp_corner(images)

    def apply_second_trigger(self, images: torch.Tensor) -> torch.Tensor:
        """The second trigger (to `second_target`): the inverted pattern in the top-left corner."""
        return stamp_corner(images, SECOND_PATTERN, "top-left")

    def test_set(self, dataset) -> TriggeredSet:
        """Both triggers' attack-success-rate images: first-trigger images of classes other than
        target, then second-trigger images of classes other than second_target; true labels kept."""
        labels = labels_of(dataset)
        groups = []
        for t, trigger in ((self.target, self.apply_trigger), (self.second_target, self.apply_second_trigger)):
            keep = np.flatnonzero(labels != t)
            groups.append((keep, trigger, np.full(keep.size, t)))
        return self.triggered_set(dataset, groups)

    def summary(self) -> dict:
        return {**super().summary(), "second_target": self.second_target,
                "poisoned_second": int(self._second.sum())}
