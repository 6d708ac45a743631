"""TaCT, the source-specific backdoor of Tang et al. 2021 ("Demon in the variant", USENIX Security),
dirty-label.

Only images of the `sources` classes carry the payload: they get BadNets' 3 x 3 corner pattern and
the target label. Cover samples from the other non-target classes get the same trigger but keep
their labels, so the model learns "trigger AND source class -> target", which hides the payload
from defences that look for one trigger-dominated cluster. The trigger is BadNets' pattern rather
than the paper's pattern; the sources default to two classes, (target + 1) % K and
(target + 2) % K, and cover_rate to rate. The attack success rate is measured on source-class test
images only.
"""
from __future__ import annotations

import torch

from .base import PoisonedDataset
from .corner import stamp_corner


class TaCT(PoisonedDataset):
    """TaCT: source-class images with the corner patch -> target; cover images keep their labels."""

    name = "tact"
    clean_label = False
    source_specific = True

    def __init__(self, dataset, *, target: int = 0, rate: float = 0.1, seed: int = 0, sources=None,
                 cover_rate: float | None = None):
        super().__init__(dataset, target=target, rate=rate, seed=seed, sources=sources,
                         cover_rate=rate if cover_rate is None else cover_rate)

    def default_sources(self) -> tuple[int, ...]:
        k = self.num_classes
        if k < 3:
            raise ValueError(f"tact's default sources are two classes other than the target, but the dataset has"
                             f" only {k} classes; give sources")
        return ((self.target + 1) % k, (self.target + 2) % k)

    def apply_trigger(self, images: torch.Tensor) -> torch.Tensor:
        return stamp_corner(images)
