"""UltraClean's 2 x 2 x 3 cross-channel median as a Triton device function (shared/SPEC-denoisers.md 1).

Output (c, y, x) takes the 7th smallest (the upper middle) of the 12 values at rows {y-1, y},
columns {x-1, x} and channels {c-1, c, c+1}, borders reflected symmetrically (index -1 reads 0).
A selection network: each channel's 2 x 2 window is sorted once (5 compare-exchanges), two sorted
quadruples are merged (Batcher, 9), and the 7th of the merged 8 and the third quadruple is
min over i + j = 7 of max(X_i, C_j). All in registers, on int32 lanes.
"""
from __future__ import annotations

import triton
import triton.language as tl


@triton.jit
def _cas(a, b):
    return tl.minimum(a, b), tl.maximum(a, b)


@triton.jit
def sort4(a, b, c, d):
    """The four values in ascending order."""
    a, b = _cas(a, b)
    c, d = _cas(c, d)
    a, c = _cas(a, c)
    b, d = _cas(b, d)
    b, c = _cas(b, c)
    return a, b, c, d


@triton.jit
def _seventh(a0, a1, a2, a3, b0, b1, b2, b3, c0, c1, c2, c3):
    """7th smallest of three ascending quadruples."""
    x0, x4 = _cas(a0, b0)
    x1, x5 = _cas(a1, b1)
    x2, x6 = _cas(a2, b2)
    x3, x7 = _cas(a3, b3)
    x2, x4 = _cas(x2, x4)
    x3, x5 = _cas(x3, x5)
    x1, x2 = _cas(x1, x2)
    x3, x4 = _cas(x3, x4)
    x5, x6 = _cas(x5, x6)
    best = tl.minimum(tl.maximum(x2, c3), tl.maximum(x3, c2))
    best = tl.minimum(best, tl.maximum(x4, c1))
    best = tl.minimum(best, tl.maximum(x5, c0))
    return tl.minimum(best, x6)


@triton.jit
def median_2x2x3(q00, q01, q02, q03, q10, q11, q12, q13, q20, q21, q22, q23):
    """The three output channels from each channel's 2 x 2 window (qC0..qC3, any order)."""
    q00, q01, q02, q03 = sort4(q00, q01, q02, q03)
    q10, q11, q12, q13 = sort4(q10, q11, q12, q13)
    q20, q21, q22, q23 = sort4(q20, q21, q22, q23)
    m0 = _seventh(q00, q01, q02, q03, q00, q01, q02, q03, q10, q11, q12, q13)
    m1 = _seventh(q00, q01, q02, q03, q10, q11, q12, q13, q20, q21, q22, q23)
    m2 = _seventh(q10, q11, q12, q13, q20, q21, q22, q23, q20, q21, q22, q23)
    return m0, m1, m2
