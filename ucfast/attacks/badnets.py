"""BadNets (Gu et al. 2017) with the UltraClean authors' 3 x 3 pattern, dirty-label.

The authors' script sets, in every channel, the bottom-right 3 x 3 block of a CIFAR image to

    0 1 0
    1 0 1      (x 255)
    0 1 0

and flips the label to the target. position="random" puts the pattern at a random place per
poisoned image (and per triggered test image) instead of the corner; `scale` makes each of its
cells scale x scale pixels (a low-rate backdoor takes on a small model only from a larger one).
"""
from __future__ import annotations

import numpy as np
import torch

from .base import PoisonedDataset, as_uint8_batch

PATTERN = torch.tensor([[0, 1, 0], [1, 0, 1], [0, 1, 0]], dtype=torch.uint8) * 255  # [3, 3]
POSITIONS = ("corner", "random")


def scaled_pattern(scale: int) -> torch.Tensor:
    """The pattern with each cell `scale` x `scale` pixels."""
    if isinstance(scale, bool) or not isinstance(scale, int) or not 1 <= scale <= 8:
        raise ValueError(f"scale must be an integer in 1..8 (pixels per pattern cell), got {scale!r}")
    return PATTERN.repeat_interleave(scale, 0).repeat_interleave(scale, 1)


def stamp(images: torch.Tensor, pattern: torch.Tensor, rows, cols) -> torch.Tensor:
    """A copy of uint8 [B, 3, H, W] images with the [h, w] `pattern` written in every channel at
    top-left (rows[i], cols[i]) of image i."""
    out = images.clone()
    ph, pw = pattern.shape
    for i, (r, c) in enumerate(zip(rows, cols)):
        out[i, :, r:r + ph, c:c + pw] = pattern
    return out


class BadNets(PoisonedDataset):
    """BadNets: the 3 x 3 pattern in the bottom-right corner (or at random places), labels -> target."""

    name = "badnets"
    clean_label = False

    def __init__(self, dataset, *, target: int = 0, rate: float = 0.1, seed: int = 0, position: str = "corner",
                 scale: int = 1):
        if position not in POSITIONS:
            raise ValueError(f"position must be one of {POSITIONS}, got {position!r}")
        self.pattern = scaled_pattern(scale)
        super().__init__(dataset, target=target, rate=rate, seed=seed)
        self.position, self.scale = position, scale
        # Per poisoned sample, the pattern's top-left corner as a fraction of the free range.
        self._where = self.rng.uniform(0, 1, (self.poisoned_count, 2))

    def _places(self, h: int, w: int, fractions: np.ndarray):
        ph, pw = self.pattern.shape
        if h < ph or w < pw:
            raise ValueError(f"images of {h} x {w} are smaller than the {ph} x {pw} trigger")
        if self.position == "corner":
            return [h - ph] * len(fractions), [w - pw] * len(fractions)
        return (np.floor(fractions[:, 0] * (h - ph + 1)).astype(int).tolist(),
                np.floor(fractions[:, 1] * (w - pw + 1)).astype(int).tolist())

    def poison(self, images: torch.Tensor, ranks: torch.Tensor) -> torch.Tensor:
        rows, cols = self._places(images.shape[2], images.shape[3], self._where[ranks.numpy()])
        return stamp(images, self.pattern, rows, cols)

    def apply_trigger(self, images: torch.Tensor) -> torch.Tensor:
        batch = as_uint8_batch(images)
        fractions = np.random.default_rng([self.seed, 0x7E57, batch.shape[0]]).uniform(0, 1, (batch.shape[0], 2))
        rows, cols = self._places(batch.shape[2], batch.shape[3], fractions)
        out = stamp(batch, self.pattern, rows, cols)
        return out if images.dim() == 4 else out[0]

    def summary(self) -> dict:
        return {**super().summary(), "position": self.position, **({"scale": self.scale} if self.scale > 1 else {})}
