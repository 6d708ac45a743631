"""OpenCV's integer L*a*b* conversion of 8-bit images, bit for bit (shared/SPEC-denoisers.md section 2).

`lbgr_to_lab` is `cv2.cvtColor(img, cv2.COLOR_LBGR2Lab)` and `lab_to_lbgr` is
`cv2.cvtColor(lab, cv2.COLOR_Lab2LBGR)` on uint8 images (OpenCV 5.0, imgproc/src/color_lab.cpp:
`RGB2Lab_b` and `Lab2RGBinteger`). Both are integer arithmetic over lookup tables. The tables are
built here once, on the host, by the construction OpenCV uses:

- OpenCV computes them with its IEEE emulation, `softfloat` (binary32) and `softdouble`
  (binary64), so every operation below is a single float32 or float64 operation, rounded to
  nearest-even, in the same order. numpy float32/float64 scalars do exactly that; the one fused
  multiply-add (`mulAdd`) is rounded once from its exact value.
- The cube root is not the correctly rounded one: softfloat's `cbrt` evaluates a rational
  approximation in double and truncates the mantissa to 24 bits (`_softfloat_cbrt`).
- `cvRound` rounds half to even. Entries 49 and 628 of the cube-root table are exact ties in
  float32 (9454.5 and 22125.5) that a float64 transcription rounds the other way, and entries 324
  and 2079 change if the cube root is rounded instead of truncated.

Channel order is kept as given: channel 0 is what OpenCV calls B. Shapes are [N, 3, H, W] uint8.
"""
from __future__ import annotations

from fractions import Fraction
from functools import lru_cache

import numpy as np
import torch

_F32 = np.float32

# XYZ from linear RGB (rows X, Y, Z; columns R, G, B) and its inverse (rows R, G, B; columns X, Y, Z),
# and the D65 white point, as OpenCV stores them (bit-identical to these decimal literals).
_RGB2XYZ = ((0.412453, 0.357580, 0.180423),
            (0.212671, 0.715160, 0.072169),
            (0.019334, 0.119193, 0.950227))
_XYZ2RGB = ((3.240479, -1.53715, -0.498535),
            (-0.969256, 1.875991, 0.041556),
            (0.055648, -0.204043, 1.057311))
_D65 = (0.950456, 1.0, 1.088754)

XYZ_SHIFT = 12  # fixed-point bits of the RGB -> XYZ matrix (lab_shift)
GAMMA_SHIFT = 3  # linear input is scaled by 8 (src << 3) before the matrix
LAB_SHIFT2 = XYZ_SHIFT + GAMMA_SHIFT  # fixed-point bits of the cube-root table (15)
CBRT_TABLE_SIZE = 256 * 3 // 2 * (1 << GAMMA_SHIFT)  # 3072 entries over x = i / 2040
BASE_SHIFT = 14  # fixed-point bits of the inverse (Lab2RGBinteger)
BASE = 1 << BASE_SHIFT
INV_GAMMA_SHIFT = 12  # the inverse's linear RGB has 12 bits before (v * 255) >> 12
INV_SHIFT = XYZ_SHIFT + (BASE_SHIFT - INV_GAMMA_SHIFT)  # 14
MIN_AB = -8145  # index offset of the ab -> XZ table
AB_TABLE_SIZE = BASE * 9 // 4
F_THRESHOLD = 3390  # ~ 6/29 * BASE: below it f^-1 is linear, above it f^3


def _round_f32(q: Fraction) -> np.float32:
    """The exact rational q rounded once to the nearest float32 (ties to even); normal range only."""
    if q == 0:
        return _F32(0.0)
    sign, q = (-1, -q) if q < 0 else (1, q)
    e = q.numerator.bit_length() - q.denominator.bit_length()
    if Fraction(2) ** e > q:
        e -= 1  # now 2^e <= q < 2^(e+1)
    mantissa = round(q / Fraction(2) ** (e - 23))  # 24 bits; round() on a Fraction is half-to-even
    return _F32(sign * mantissa * 2.0 ** (e - 23))


def _fma_f32(a: np.float32, b: np.float32, c: np.float32) -> np.float32:
    """softfloat `mulAdd`: a * b + c with a single float32 rounding."""
    return _round_f32(Fraction(float(a)) * Fraction(float(b)) + Fraction(float(c)))


# softfloat's cube root (Ken Turkowski's): a quartic / quartic rational approximation of cbrt on
# [0.125, 1), evaluated in double; coefficients as OpenCV stores them (IEEE-754 binary64 bit patterns).
_CBRT_NUM = (0x4046a09e6653ba70, 0x406808f46c6116e0, 0x405dca97439cae14, 0x402add70d2827500, 0x3fc4f15f83f55d2d)
_CBRT_DEN = (0x402d9e20660edb21, 0x4062ff15c0285815, 0x406510d06a8112ce, 0x4040fecbc9e2c375, 0x3ff0000000000000)


def _from_bits(bits: int) -> np.float64:
    return np.array(bits, dtype=np.uint64).view(np.float64)[()]


def _softfloat_cbrt(x: np.float32) -> np.float32:
    """Cube root of a positive normal float32 exactly as OpenCV's softfloat `cbrt` computes it.

    x = 1.m * 2^e is split as fr * 2^(e - s) with fr = 1.m * 2^s in [0.125, 1) and e - s a multiple
    of 3; cbrt(fr) in [0.5, 1) comes from the rational approximation in double, and its mantissa
    is TRUNCATED to 23 bits and given the exponent (e - s) / 3 - 1.
    """
    bits = int(np.array(x, dtype=np.float32).view(np.uint32))
    e = ((bits >> 23) & 0xFF) - 127
    s = int(np.fmod(e, 3))  # C remainder: the sign of e
    s -= 3 if s >= 0 else 0  # s in {-3, -2, -1}
    e_root = (e - s) // 3 - 1
    fr = _from_bits(((s + 1023) << 52) | ((bits & 0x7FFFFF) << 29))
    num, den = _from_bits(_CBRT_NUM[0]), _from_bits(_CBRT_DEN[0])
    for a, b in zip(_CBRT_NUM[1:], _CBRT_DEN[1:]):
        num = num * fr + _from_bits(a)
        den = den * fr + _from_bits(b)
    root_bits = int(np.array(num / den, dtype=np.float64).view(np.uint64))
    mantissa = (root_bits & ((1 << 52) - 1)) >> 29
    return np.array(((e_root + 127) << 23) | mantissa, dtype=np.uint32).view(np.float32)[()]


@lru_cache(maxsize=None)
def cbrt_table() -> torch.Tensor:
    """OpenCV's `LabCbrtTab_b`: round(2^15 * f(i / 2040)) for i < 3072, all in float32. [3072] int32.

    f(x) = x * 841/108 + 16/116 below (6/29)^3 = 216/24389, cbrt(x) above.
    """
    threshold = _F32(216) / _F32(24389)
    slope = _F32(841) / _F32(108)
    bias = _F32(16) / _F32(116)
    step = _F32(1) / (_F32(255) * _F32(1 << GAMMA_SHIFT))
    scale = _F32(1 << LAB_SHIFT2)
    table = []
    for i in range(CBRT_TABLE_SIZE):
        x = step * _F32(i)
        f = _fma_f32(x, slope, bias) if x < threshold else _softfloat_cbrt(x)
        table.append(round(float(scale * f)))  # cvRound: half to even
    return torch.tensor(table, dtype=torch.int32)


@lru_cache(maxsize=None)
def forward_matrix() -> torch.Tensor:
    """The fixed-point matrix (>> 12) from (src << 3) to the table indices X, Y, Z. [3 (XYZ), 3 (src channel)] int32.

    Row r, column k: round(2^12 * RGB2XYZ[r][2 - k] / D65[r]) (channel 0 is B), in double.
    """
    rows = [[round((1 << XYZ_SHIFT) * _RGB2XYZ[r][2 - k] / _D65[r]) for k in range(3)] for r in range(3)]
    return torch.tensor(rows, dtype=torch.int32)


@lru_cache(maxsize=None)
def inverse_matrix() -> torch.Tensor:
    """The fixed-point matrix (>> 14) from (X, Y, Z) to linear output channels. [3 (out channel), 3 (XYZ)] int32.

    Output channel c (0 is B) uses RGB row 2 - c: round(2^12 * XYZ2RGB[2 - c][i] * D65[i]), in double.
    """
    rows = [[round((1 << XYZ_SHIFT) * _XYZ2RGB[2 - c][i] * _D65[i]) for i in range(3)] for c in range(3)]
    return torch.tensor(rows, dtype=torch.int32)


@lru_cache(maxsize=None)
def l_to_y_f_tables() -> tuple[torch.Tensor, torch.Tensor]:
    """OpenCV's `LabToYF_b`: for each L byte, Y and f(Y) scaled by 2^14, in float32. Two [256] int32."""
    y_tab, fy_tab = [], []
    for i in range(256):
        if i <= 20:  # L * 100/255 below 8: the linear part, y = L / 903.3 with 903.3 = (29/3)^3
            y = _F32(i * BASE * 20 * 9) / _F32(17 * 29 * 29 * 29)
            fy = _F32(BASE) * (_F32(16) / _F32(116) + _F32(i * 5) / _F32(3 * 17 * 29))
        else:  # fy = (L + 16) / 116, y = fy^3
            fy = _F32(i * 100 * BASE) / _F32(255 * 116) + _F32(16 * BASE) / _F32(116)
            y = fy * fy * fy / _F32(BASE * BASE)
        y_tab.append(round(float(y)))
        fy_tab.append(round(float(fy)))
    return torch.tensor(y_tab, dtype=torch.int32), torch.tensor(fy_tab, dtype=torch.int32)


def _c_div(a: torch.Tensor, b: int) -> torch.Tensor:
    """C integer division (truncation toward zero)."""
    return torch.div(a, b, rounding_mode="trunc")


@lru_cache(maxsize=None)
def ab_to_xz_table() -> torch.Tensor:
    """OpenCV's `abToXZ_b`: f^-1 of a 2^14-scaled f value v = i + MIN_AB, in C integer arithmetic. [9216] int32."""
    v = torch.arange(MIN_AB, MIN_AB + AB_TABLE_SIZE, dtype=torch.int64)
    linear = _c_div(v * 108, 841) - BASE * 16 // 116 * 108 // 841  # (f - 16/116) / 7.787
    cubic = _c_div(_c_div(v * v, BASE) * v, BASE)  # f^3
    return torch.where(v <= F_THRESHOLD, linear, cubic).to(torch.int32)


def lbgr_to_lab(pixels: torch.Tensor) -> torch.Tensor:
    """`cv2.cvtColor(img, COLOR_LBGR2Lab)` on uint8. [N, 3, H, W] uint8 -> [N, 3, H, W] uint8 (L, a, b)."""
    dev = pixels.device
    table = cbrt_table().to(dev)
    m = forward_matrix().tolist()
    v = pixels.to(torch.int32) << GAMMA_SHIFT  # [N, 3, H, W]
    half = 1 << (XYZ_SHIFT - 1)
    fx, fy, fz = (table[((m[r][0] * v[:, 0] + m[r][1] * v[:, 1] + m[r][2] * v[:, 2] + half) >> XYZ_SHIFT).long()]
                  for r in range(3))  # each [N, H, W], f scaled by 2^15
    l_scale = (116 * 255 + 50) // 100  # 296
    l_shift = -((16 * 255 * (1 << LAB_SHIFT2) + 50) // 100)  # -1336934
    half2 = 1 << (LAB_SHIFT2 - 1)
    ab_bias = 128 * (1 << LAB_SHIFT2) + half2
    lab = torch.stack([(l_scale * fy + l_shift + half2) >> LAB_SHIFT2,
                       (500 * (fx - fy) + ab_bias) >> LAB_SHIFT2,
                       (200 * (fy - fz) + ab_bias) >> LAB_SHIFT2], 1)  # [N, 3, H, W]
    return lab.clamp_(0, 255).to(torch.uint8)


def lab_to_lbgr(lab: torch.Tensor) -> torch.Tensor:
    """`cv2.cvtColor(lab, COLOR_Lab2LBGR)` on uint8. [N, 3, H, W] uint8 (L, a, b) -> [N, 3, H, W] uint8."""
    dev = lab.device
    y_tab, fy_tab = (t.to(dev) for t in l_to_y_f_tables())
    xz_tab = ab_to_xz_table().to(dev)
    m = inverse_matrix().tolist()
    lab = lab.to(torch.int32)
    light, a, b = lab[:, 0].long(), lab[:, 1], lab[:, 2]  # [N, H, W]
    y, fy = y_tab[light], fy_tab[light]
    # a * BASE / 500 and b * BASE / 200 as OpenCV approximates them: multiply, add half, shift.
    a_div = ((5 * a * ((BASE << 13) // 2500) + (1 << 7)) >> 13) - 128 * BASE // 500
    b_div = ((b * ((BASE << 9) // 200) + (1 << 4)) >> 9) - 128 * BASE // 200 + 1
    x = xz_tab[(fy + a_div - MIN_AB).long()]
    z = xz_tab[(fy - b_div - MIN_AB).long()]
    half = 1 << (INV_SHIFT - 1)
    out = torch.stack([(m[c][0] * x + m[c][1] * y + m[c][2] * z + half) >> INV_SHIFT for c in range(3)], 1)
    out = out.clamp_(0, (1 << INV_GAMMA_SHIFT) - 1)  # [N, 3, H, W], 12-bit linear
    return ((out * 255) >> INV_GAMMA_SHIFT).to(torch.uint8)
