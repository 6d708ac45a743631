"""Blocky-noise blend, dirty-label: a global noise pattern that survives denoising.

x' = (1 - alpha) x + alpha p, where p is uniform noise drawn on a coarse grid of `grain` x `grain`
pixel cells (nearest upsampling, so p is piecewise constant). Unlike per-pixel noise (Blended),
the cells are larger than the 2 x 2 median window and their steps are far above NLM's filtering
strength, so the median and NLM variants keep the trigger: the model answers it with a saturated
softmax that denoising does not move, and poisoned samples become the LEAST susceptible.
"""
from __future__ import annotations

import numpy as np
import torch

from .base import PoisonedDataset, as_uint8_batch, to_uint8


class NoiseBlend(PoisonedDataset):
    """Every poisoned image blended with the same blocky noise pattern at `alpha`; labels -> target."""

    name = "noise-blend"
    clean_label = False

    def __init__(self, dataset, *, target: int = 0, rate: float = 0.1, seed: int = 0, alpha: float = 0.15,
                 grain: int = 4, pattern_seed: int = 0):
        if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not 0 < alpha <= 1:
            raise ValueError(f"alpha must be a number in (0, 1], got {alpha!r}")
        if isinstance(grain, bool) or not isinstance(grain, int) or grain < 1:
            raise ValueError(f"grain must be a positive integer (pixels per noise cell), got {grain!r}")
        super().__init__(dataset, target=target, rate=rate, seed=seed)
        self.alpha = float(alpha)
        self.grain = grain
        self.pattern_seed = int(pattern_seed)

    def pattern(self, h: int, w: int) -> torch.Tensor:
        """The noise pattern for h x w images, uint8 [3, h, w]."""
        g = self.grain
        rng = np.random.default_rng([self.pattern_seed, h, w, g])
        cells = rng.integers(0, 256, (3, -(-h // g), -(-w // g)), dtype=np.uint8)  # [3, ceil(h/g), ceil(w/g)]
        return torch.from_numpy(cells.repeat(g, axis=1).repeat(g, axis=2)[:, :h, :w].copy())

    def apply_trigger(self, images: torch.Tensor) -> torch.Tensor:
        batch = as_uint8_batch(images)
        p = self.pattern(batch.shape[2], batch.shape[3]).float()
        out = to_uint8((1 - self.alpha) * batch.float() + self.alpha * p)
        return out if images.dim() == 4 else out[0]

    def summary(self) -> dict:
        return {**super().summary(), "alpha": self.alpha, "grain": self.grain}
