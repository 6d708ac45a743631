"""Blended (Chen et al. 2017), dirty-label: a fixed full-image pattern mixed into the image.

mode="blend": x' = (1 - alpha) x + alpha p (Chen et al.). mode="add": x' = clip(x + alpha p), the
UltraClean authors' variant (their script adds 0.2 x the pattern and clips). The pattern is
uniform noise from `pattern_seed` at the image size (Chen et al.'s random-noise key; the authors
used a Hello Kitty photograph), or an image given as `pattern` (uint8 [3, H, W] or [H, W, 3]).
"""
from __future__ import annotations

import numpy as np
import torch

from .base import PoisonedDataset, as_uint8_batch, to_uint8

MODES = ("blend", "add")


def check_pattern(pattern) -> torch.Tensor:
    """uint8 [3, H, W] from a uint8 [3, H, W] or [H, W, 3] array, else a ValueError."""
    pattern = torch.as_tensor(np.asarray(pattern))
    if pattern.dim() == 3 and pattern.shape[0] != 3 and pattern.shape[-1] == 3:
        pattern = pattern.permute(2, 0, 1)
    if pattern.dim() != 3 or pattern.shape[0] != 3 or pattern.dtype != torch.uint8:
        raise ValueError(f"pattern must be uint8 3 x H x W or H x W x 3, got {pattern.dtype} {tuple(pattern.shape)}")
    return pattern


def key_pattern(given: torch.Tensor | None, seed: int, h: int, w: int) -> torch.Tensor:
    """The blend key for h x w images, uint8 [3, h, w]: the given pattern (which must be h x w), or
    uniform noise from `seed` at that size."""
    if given is not None:
        if tuple(given.shape[1:]) != (h, w):
            raise ValueError(f"the given pattern is {tuple(given.shape[1:])} but the images are {(h, w)}")
        return given
    rng = np.random.default_rng([seed, h, w])
    return torch.from_numpy(rng.integers(0, 256, (3, h, w), dtype=np.uint8))


class Blended(PoisonedDataset):
    """Blended: every poisoned image mixed with the same pattern at `alpha`; labels -> target."""

    name = "blended"
    clean_label = False

    def __init__(self, dataset, *, target: int = 0, rate: float = 0.1, seed: int = 0, alpha: float = 0.2,
                 mode: str = "blend", pattern=None, pattern_seed: int = 0):
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not 0 < alpha <= 1:
            raise ValueError(f"alpha must be a number in (0, 1], got {alpha!r}")
        if pattern is not None:
            pattern = check_pattern(pattern)
        super().__init__(dataset, target=target, rate=rate, seed=seed)
        self.alpha = float(alpha)
        self.mode = mode
        self.pattern_seed = int(pattern_seed)
        self._pattern = pattern

    def pattern(self, h: int, w: int) -> torch.Tensor:
        """The key pattern for h x w images, uint8 [3, h, w]."""
        return key_pattern(self._pattern, self.pattern_seed, h, w)

    def apply_trigger(self, images: torch.Tensor) -> torch.Tensor:
        batch = as_uint8_batch(images)
        p = self.pattern(batch.shape[2], batch.shape[3]).float()
        x = batch.float()
        out = to_uint8((1 - self.alpha) * x + self.alpha * p if self.mode == "blend" else x + self.alpha * p)
        return out if images.dim() == 4 else out[0]

    def summary(self) -> dict:
        return {**super().summary(), "alpha": self.alpha, "mode": self.mode}
