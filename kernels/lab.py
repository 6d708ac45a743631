"""OpenCV's integer L*a*b* conversion as Triton device functions, bit for bit with ucfast/reference/lab.py.

The lookup tables and matrices are ucfast.ops.denoisers.lab_tables (int32 tensors, passed as pointers);
the fixed-point constants below are derived from the reference's shift constants.
"""
from __future__ import annotations

import triton
import triton.language as tl

from ucfast.reference import lab as ref

GAMMA_SHIFT = tl.constexpr(ref.GAMMA_SHIFT)
XYZ_SHIFT = tl.constexpr(ref.XYZ_SHIFT)
XYZ_HALF = tl.constexpr(1 << (ref.XYZ_SHIFT - 1))
LAB_SHIFT2 = tl.constexpr(ref.LAB_SHIFT2)
L_SCALE = tl.constexpr((116 * 255 + 50) // 100)
L_BIAS = tl.constexpr(-((16 * 255 * (1 << ref.LAB_SHIFT2) + 50) // 100) + (1 << (ref.LAB_SHIFT2 - 1)))
AB_BIAS = tl.constexpr(128 * (1 << ref.LAB_SHIFT2) + (1 << (ref.LAB_SHIFT2 - 1)))
A_MUL = tl.constexpr((ref.BASE << 13) // 2500)
A_SUB = tl.constexpr(128 * ref.BASE // 500)
B_MUL = tl.constexpr((ref.BASE << 9) // 200)
B_SUB = tl.constexpr(128 * ref.BASE // 200 - 1)
MIN_AB = tl.constexpr(ref.MIN_AB)
INV_SHIFT = tl.constexpr(ref.INV_SHIFT)
INV_HALF = tl.constexpr(1 << (ref.INV_SHIFT - 1))
INV_MAX = tl.constexpr((1 << ref.INV_GAMMA_SHIFT) - 1)
INV_GAMMA_SHIFT = tl.constexpr(ref.INV_GAMMA_SHIFT)


@triton.jit
def _xyz_f(v0, v1, v2, fwd_ptr, cbrt_ptr, ROW: tl.constexpr):
    """f(X), f(Y) or f(Z) (ROW 0, 1, 2) scaled by 2^15, from the pixels shifted by GAMMA_SHIFT."""
    i = (tl.load(fwd_ptr + 3 * ROW) * v0 + tl.load(fwd_ptr + 3 * ROW + 1) * v1
         + tl.load(fwd_ptr + 3 * ROW + 2) * v2 + XYZ_HALF) >> XYZ_SHIFT
    return tl.load(cbrt_ptr + i)


@triton.jit
def lab_forward(p0, p1, p2, fwd_ptr, cbrt_ptr):
    """COLOR_LBGR2Lab of int32 pixels 0..255 (channel 0 is OpenCV's B) -> int32 (L, a, b), each 0..255."""
    v0 = p0 << GAMMA_SHIFT
    v1 = p1 << GAMMA_SHIFT
    v2 = p2 << GAMMA_SHIFT
    fx = _xyz_f(v0, v1, v2, fwd_ptr, cbrt_ptr, 0)
    fy = _xyz_f(v0, v1, v2, fwd_ptr, cbrt_ptr, 1)
    fz = _xyz_f(v0, v1, v2, fwd_ptr, cbrt_ptr, 2)
    light = (L_SCALE * fy + L_BIAS) >> LAB_SHIFT2
    a = (500 * (fx - fy) + AB_BIAS) >> LAB_SHIFT2
    b = (200 * (fy - fz) + AB_BIAS) >> LAB_SHIFT2
    return (tl.minimum(tl.maximum(light, 0), 255), tl.minimum(tl.maximum(a, 0), 255),
            tl.minimum(tl.maximum(b, 0), 255))


@triton.jit
def _inverse_row(x, y, z, inv_ptr, ROW: tl.constexpr):
    """Output channel ROW of Lab2RGBinteger from X, Y, Z: 12-bit linear, then scaled to 0..255."""
    v = (tl.load(inv_ptr + 3 * ROW) * x + tl.load(inv_ptr + 3 * ROW + 1) * y
         + tl.load(inv_ptr + 3 * ROW + 2) * z + INV_HALF) >> INV_SHIFT
    v = tl.minimum(tl.maximum(v, 0), INV_MAX)
    return (v * 255) >> INV_GAMMA_SHIFT


@triton.jit
def lab_inverse(light, a, b, inv_ptr, y_ptr, fy_ptr, xz_ptr):
    """COLOR_Lab2LBGR of int32 (L, a, b), each 0..255 -> int32 pixels (channel 0 is OpenCV's B)."""
    y = tl.load(y_ptr + light)
    fy = tl.load(fy_ptr + light)
    a_div = ((5 * a * A_MUL + (1 << 7)) >> 13) - A_SUB
    b_div = ((b * B_MUL + (1 << 4)) >> 9) - B_SUB
    x = tl.load(xz_ptr + (fy + a_div - MIN_AB))
    z = tl.load(xz_ptr + (fy - b_div - MIN_AB))
    return _inverse_row(x, y, z, inv_ptr, 0), _inverse_row(x, y, z, inv_ptr, 1), _inverse_row(x, y, z, inv_ptr, 2)
