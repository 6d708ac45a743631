"""Reference colour-depth reduction (shared/SPEC-denoisers.md section 4): round(x * (L-1)) / (L-1)."""
from __future__ import annotations

import torch

from ..ops.denoisers import BITDEPTH_LEVELS, check_levels


def bitdepth(pixels: torch.Tensor, levels: int = BITDEPTH_LEVELS) -> torch.Tensor:
    """Quantise uint8 pixels to `levels` evenly spaced values of 0..255, rounding to the nearest.

    In 0..1 units this is round(x * (levels - 1)) / (levels - 1), computed exactly in integers:
    q = round(p * (levels - 1) / 255) and the output is q * 255 / (levels - 1) rounded half up.
    """
    check_levels(levels)
    steps = levels - 1
    p = pixels.to(torch.int32)
    # p * steps / 255 is never a tie (255 is odd), so floor(x + 1/2) is exact rounding.
    q = torch.div(2 * p * steps + 255, 510, rounding_mode="floor")
    return torch.div(2 * q * 255 + steps, 2 * steps, rounding_mode="floor").to(torch.uint8)
