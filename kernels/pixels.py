"""Pixel loads shared by the Triton denoisers: any input strides, uint8 or float 0..1."""
from __future__ import annotations

import triton
import triton.language as tl


@triton.jit
def to_u8(v, IS_FLOAT: tl.constexpr):
    """8-bit value (int32) of loaded pixels; float 0..1 becomes round-half-even(x * 255) in float32,
    clamped to 0..255, as ucfast.images.to_uint8 does."""
    if IS_FLOAT:
        t = tl.minimum(tl.maximum(v.to(tl.float32) * 255.0, 0.0), 255.0)
        r = tl.floor(t)
        frac = t - r  # exact
        up = (frac > 0.5) | ((frac == 0.5) & ((r.to(tl.int32) & 1) == 1))
        return tl.where(up, r + 1.0, r).to(tl.int32)
    return v.to(tl.int32)


@triton.jit
def load_u8(img_ptr, off, IS_FLOAT: tl.constexpr):
    """8-bit values (int32) of the pixels at img_ptr + off (offsets always in bounds, no mask)."""
    return to_u8(tl.load(img_ptr + off), IS_FLOAT)


@triton.jit
def reflect101(i, n):
    """BORDER_REFLECT_101 source index of i (any int32, repeated reflections) on an axis of length n."""
    period = tl.maximum(2 * n - 2, 1)
    j = tl.abs(i) % period
    return tl.where(j >= n, period - j, j)
