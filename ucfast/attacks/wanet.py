"""WaNet (Nguyen and Tran 2021), dirty-label: a smooth, fixed warping field as the trigger.

A k x k field of random offsets (normalised to mean absolute value 1) is upsampled bicubically to
the image size, scaled by s / H and added to the identity sampling grid; poisoned images are
resampled through it (bilinear, `grid_sample` with align_corners=True, as the authors' code) and
relabelled to the target. k = 4 and s = 0.5 are the paper's CIFAR-10 values; on small, briefly
trained models a larger s makes the trigger easier to learn. The noise mode of the paper
(randomly warped samples kept with their labels) is not included.
"""
from __future__ import annotations

import torch
from torch.nn import functional as F

from .base import PoisonedDataset, as_uint8_batch, to_uint8


class WaNet(PoisonedDataset):
    """WaNet: poisoned images warped by a fixed smooth field; labels -> target."""

    name = "wanet"
    clean_label = False

    def __init__(self, dataset, *, target: int = 0, rate: float = 0.1, seed: int = 0, k: int = 4, s: float = 0.5,
                 grid_rescale: float = 1.0):
        if isinstance(k, bool) or not isinstance(k, int) or k < 2:
            raise ValueError(f"k must be an integer >= 2 (control points per side), got {k!r}")
        for arg, value in (("s", s), ("grid_rescale", grid_rescale)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
                raise ValueError(f"{arg} must be a positive number, got {value!r}")
        super().__init__(dataset, target=target, rate=rate, seed=seed)
        self.k, self.s, self.grid_rescale = k, float(s), float(grid_rescale)
        g = torch.Generator().manual_seed(self.seed)
        ins = torch.rand(1, 2, k, k, generator=g) * 2 - 1
        self.field = ins / ins.abs().mean()  # [1, 2, k, k]

    def grid(self, h: int, w: int) -> torch.Tensor:
        """The sampling grid for h x w images, [1, h, w, 2] in grid_sample's -1..1 coordinates."""
        noise = F.interpolate(self.field, size=(h, w), mode="bicubic", align_corners=True).permute(0, 2, 3, 1)
        ys, xs = torch.meshgrid(torch.linspace(-1, 1, h), torch.linspace(-1, 1, w), indexing="ij")
        identity = torch.stack((xs, ys), 2)[None]  # [1, h, w, 2] as (x, y)
        return torch.clamp((identity + self.s * noise / h) * self.grid_rescale, -1, 1)

    def apply_trigger(self, images: torch.Tensor) -> torch.Tensor:
        batch = as_uint8_batch(images)
        b, _, h, w = batch.shape
        grid = self.grid(h, w).expand(b, -1, -1, -1)
        out = to_uint8(F.grid_sample(batch.float(), grid, mode="bilinear", align_corners=True))
        return out if images.dim() == 4 else out[0]

    def summary(self) -> dict:
        return {**super().summary(), "k": self.k, "s": self.s}
