"""Public denoisers: `ucfast.median`, `ucfast.nlm`, `ucfast.bitdepth`.

Images are N x 3 x H x W, uint8 0..255 (uint8 out) or float 0..1 (rounded to 8 bits, float 0..1
out in the input's dtype). Any layout (non-contiguous, channels_last); the output is contiguous.
`backend` picks the implementation (see `ucfast.backends`); the result is the same bit for bit.
"""
from __future__ import annotations

import torch

from . import ops
from .images import check_images, from_uint8_like, to_uint8
from .reference.nlm import check_nlm_args


def _run(images, op, *args) -> torch.Tensor:
    images = check_images(images, grey_ok=False)
    return from_uint8_like(op(to_uint8(images).contiguous(), *args), images)


def median(images, *, k: int | None = None, backend: str = "auto") -> torch.Tensor:
    """UltraClean's median: scipy `median_filter(size=(2, 2, 3), mode="reflect")` on H x W x 3, exactly.

    With `k` (odd), a plain per-channel k x k median with the same border rule instead.
    """
    if k is None:
        return _run(images, ops.median, backend)
    if not isinstance(k, int) or k < 1 or k % 2 == 0:
        raise ValueError(f"k must be None or a positive odd integer, got {k!r}")
    return _run(images, ops.median_kxk, k, backend)


def nlm(images, *, h: float = 5.0, h_color: float = 5.0, template: int = 7, search: int = 13,
        backend: str = "auto") -> torch.Tensor:
    """`cv2.fastNlMeansDenoisingColored(img, None, h, h_color, template, search)`, exactly."""
    check_nlm_args(h, h_color, template, search)
    return _run(images, ops.nlm, float(h), float(h_color), template, search, backend)


def bitdepth(images, *, levels: int = 4, backend: str = "auto") -> torch.Tensor:
    """Colour-depth reduction: round(x * (levels - 1)) / (levels - 1) on 8-bit pixels."""
    if not isinstance(levels, int) or not 2 <= levels <= 256:
        raise ValueError(f"levels must be an integer in 2..256, got {levels!r}")
    return _run(images, ops.bitdepth, levels, backend)
