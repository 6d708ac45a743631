"""Colour-depth reduction as a Triton device function, exactly as ucfast/reference/bitdepth.py:
q = round(p * (L-1) / 255) and out = round(q * 255 / (L-1)) in integers (no ties: 255 is odd)."""
from __future__ import annotations

import triton
import triton.language as tl


@triton.jit
def bitdepth(p, levels):
    """int32 pixels 0..255 -> int32 pixels on `levels` evenly spaced values."""
    steps = levels - 1
    q = (2 * p * steps + 255) // 510
    return (2 * q * 255 + steps) // (2 * steps)
