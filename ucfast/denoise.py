"""Public denoisers: `ucfast.median`, `ucfast.nlm`, `ucfast.bitdepth`.

Images are N x 3 x H x W, uint8 0..255 (uint8 out) or float 0..1 (rounded to 8 bits, float 0..1
out in the input's dtype). Any layout (non-contiguous, channels_last); the output is contiguous.
`backend` picks the implementation (see `ucfast.backends`, the table in ucfast/ops/backends.py); the result is the same bit for bit.
"""
from __future__ import annotations

import numpy as np
import torch

from . import ops
from .images import check_images, from_uint8_like, to_uint8
from .ops.denoisers import BITDEPTH_LEVELS, NLM, check_kernel_size, check_levels, check_nlm_args


def _run(images, op, *args) -> torch.Tensor:
    images = check_images(images, grey_ok=False)
    return from_uint8_like(op(to_uint8(images).contiguous(), *args), images)


def median(images: torch.Tensor | np.ndarray, *, k: int | None = None, backend: str = "auto") -> torch.Tensor:
    """UltraClean's median: scipy `median_filter(size=(2, 2, 3), mode="reflect")` on H x W x 3, exactly.

    With `k` (odd), a plain per-channel k x k median with the same border rule instead.
    """
    if k is None:
        return _run(images, ops.median, backend)
    check_kernel_size(k)
    return _run(images, ops.median_kxk, k, backend)


def nlm(images: torch.Tensor | np.ndarray, *, h: float = NLM.h, h_color: float = NLM.h_color, template: int = NLM.template,
        search: int = NLM.search, backend: str = "auto") -> torch.Tensor:
    """`cv2.fastNlMeansDenoisingColored(img, None, h, h_color, template, search)`, exactly."""
    check_nlm_args(h, h_color, template, search)
    return _run(images, ops.nlm, float(h), float(h_color), template, search, backend)


def bitdepth(images: torch.Tensor | np.ndarray, *, levels: int = BITDEPTH_LEVELS, backend: str = "auto") -> torch.Tensor:
    """Colour-depth reduction: round(x * (levels - 1)) / (levels - 1) on 8-bit pixels."""
    check_levels(levels)
    return _run(images, ops.bitdepth, levels, backend)
