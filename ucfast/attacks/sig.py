"""SIG (Barni et al. 2019), clean-label: a horizontal sine added to images of the target class.

x'[:, :, i, j] = clip(x + delta * sin(2 pi j f / m)), m the image width, as in the UltraClean
authors' script (delta 20 in 0..255 units, f 6). Only target-class images are poisoned and their
labels are unchanged; at test time the same signal is added to images of other classes.
"""
from __future__ import annotations

import math

import torch

from .base import PoisonedDataset, as_uint8_batch, to_uint8


class SIG(PoisonedDataset):
    """SIG: target-class images with a sinusoidal signal added, labels kept."""

    name = "sig"
    clean_label = True

    def __init__(self, dataset, *, target: int = 0, rate: float = 0.1, seed: int = 0, delta: float = 20.0,
                 frequency: float = 6.0):
        for arg, value in (("delta", delta), ("frequency", frequency)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < 1e6:
                raise ValueError(f"{arg} must be a positive number, got {value!r}")
        super().__init__(dataset, target=target, rate=rate, seed=seed)
        self.delta = float(delta)
        self.frequency = float(frequency)

    def signal(self, w: int) -> torch.Tensor:
        """The additive signal over the columns, float [w] in 0..255 units."""
        j = torch.arange(w, dtype=torch.float64)
        return (self.delta * torch.sin(2 * math.pi * j * self.frequency / w)).float()

    def apply_trigger(self, images: torch.Tensor) -> torch.Tensor:
        batch = as_uint8_batch(images)
        out = to_uint8(batch.float() + self.signal(batch.shape[3]))
        return out if images.dim() == 4 else out[0]

    def summary(self) -> dict:
        return {**super().summary(), "delta": self.delta, "frequency": self.frequency}
