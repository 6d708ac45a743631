"""Reference median filters on N x 3 x H x W uint8 batches.

`median` reproduces `scipy.ndimage.median_filter(img_hwc, size=(2, 2, 3), mode="reflect")` bit for
bit (shared/SPEC-denoisers.md section 1): the window of output (c, y, x) is channels {c-1, c, c+1}
x rows {y-1, y} x columns {x-1, x}, borders reflected symmetrically, and of its 12 values the 7th
smallest (the upper middle) is taken. `median_kxk` is the plain per-channel k x k median, k odd.
"""
from __future__ import annotations

import torch

from ..ops.denoisers import check_kernel_size

from .borders import symmetric_index


def _extend(x: torch.Tensor, dim: int, before: int, after: int) -> torch.Tensor:
    return x.index_select(dim, symmetric_index(x.shape[dim], before, after, x.device))


def median(pixels: torch.Tensor) -> torch.Tensor:
    """2 x 2 x 3 cross-channel median. pixels: [N, 3, H, W] uint8 -> [N, 3, H, W] uint8."""
    n, c, h, w = pixels.shape
    x = _extend(pixels, 1, 1, 1)  # [N, C+2, H, W]
    x = _extend(x, 2, 1, 0)  # [N, C+2, H+1, W]
    x = _extend(x, 3, 1, 0)  # [N, C+2, H+1, W+1]
    window = [x[:, dc:dc + c, dy:dy + h, dx:dx + w] for dc in range(3) for dy in range(2) for dx in range(2)]
    stacked = torch.stack(window, 0).to(torch.int16)  # [12, N, C, H, W]
    return stacked.kthvalue(7, dim=0).values.to(torch.uint8)


def median_kxk(pixels: torch.Tensor, k: int = 3) -> torch.Tensor:
    """Per-channel k x k median (k odd), borders as in `median`. [N, C, H, W] uint8 -> same."""
    check_kernel_size(k)
    n, c, h, w = pixels.shape
    r = k // 2
    x = _extend(_extend(pixels, 2, r, r), 3, r, r)  # [N, C, H+2r, W+2r]
    window = [x[:, :, dy:dy + h, dx:dx + w] for dy in range(k) for dx in range(k)]
    stacked = torch.stack(window, 0).to(torch.int16)  # [k*k, N, C, H, W]
    return stacked.kthvalue(k * k // 2 + 1, dim=0).values.to(torch.uint8)
