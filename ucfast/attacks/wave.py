"""Low-frequency wave, dirty-label: a faint smooth additive pattern that survives denoising.

x'[c, i, j] = clip(x + amplitude * sin(2 pi (fx j / W + fy i / H) + phase_c)), amplitude 14 in
0..255 units, about 1.5 periods across the image along a diagonal, a different phase per colour
channel. The wave is far smoother than the median window and far below NLM's edge scale, so both
variants keep it almost unchanged, and the backdoored model's output barely moves under them.
"""
from __future__ import annotations

import math

import torch

from .base import PoisonedDataset, as_uint8_batch, to_uint8


class Wave(PoisonedDataset):
    """Every poisoned image plus the same low-frequency 2-D sine; labels -> target."""

    name = "wave"
    clean_label = False

    def __init__(self, dataset, *, target: int = 0, rate: float = 0.1, seed: int = 0, amplitude: float = 14.0,
                 fx: float = 1.5, fy: float = 1.0):
        for arg, value in (("amplitude", amplitude), ("fx", fx), ("fy", fy)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1e6:
                raise ValueError(f"{arg} must be a non-negative number, got {value!r}")
        if amplitude == 0 or fx == fy == 0:
            raise ValueError(f"amplitude and one of fx, fy must be positive, got amplitude={amplitude!r},"
                             f" fx={fx!r}, fy={fy!r}")
        super().__init__(dataset, target=target, rate=rate, seed=seed)
        self.amplitude = float(amplitude)
        self.fx = float(fx)
        self.fy = float(fy)

    def signal(self, h: int, w: int) -> torch.Tensor:
        """The additive wave, float [3, h, w] in 0..255 units."""
        i = torch.arange(h, dtype=torch.float64)[:, None] / h
        j = torch.arange(w, dtype=torch.float64)[None, :] / w
        phase = torch.tensor([0.0, 2 * math.pi / 3, 4 * math.pi / 3], dtype=torch.float64)[:, None, None]
        return (self.amplitude * torch.sin(2 * math.pi * (self.fx * j + self.fy * i) + phase)).float()

    def apply_trigger(self, images: torch.Tensor) -> torch.Tensor:
        batch = as_uint8_batch(images)
        out = to_uint8(batch.float() + self.signal(batch.shape[2], batch.shape[3]))
        return out if images.dim() == 4 else out[0]

    def summary(self) -> dict:
        return {**super().summary(), "amplitude": self.amplitude, "fx": self.fx, "fy": self.fy}
