"""The corner patch shared by TaCT, all-to-all and two-targets: a small pattern written in every
channel of one image corner (BadNets' 3 x 3 pattern in the bottom-right by default)."""
from __future__ import annotations

import torch

from .badnets import PATTERN, stamp
from .base import as_uint8_batch

CORNERS = ("top-left", "top-right", "bottom-left", "bottom-right")


def stamp_corner(images: torch.Tensor, pattern: torch.Tensor = PATTERN, corner: str = "bottom-right") -> torch.Tensor:
    """A copy of uint8 [B, 3, H, W] (or [3, H, W]) images with the [h, w] `pattern` in `corner`."""
    if corner not in CORNERS:
        raise ValueError(f"corner must be one of {CORNERS}, got {corner!r}")
    batch = as_uint8_batch(images)
    h, w = batch.shape[2:]
    ph, pw = pattern.shape
    if h < ph or w < pw:
        raise ValueError(f"images of {h} x {w} are smaller than the {ph} x {pw} trigger")
    row = 0 if corner.startswith("top") else h - ph
    col = 0 if corner.endswith("left") else w - pw
    out = stamp(batch, pattern, [row] * batch.shape[0], [col] * batch.shape[0])
    return out if images.dim() == 4 else out[0]
