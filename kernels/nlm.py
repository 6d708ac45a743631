"""OpenCV-exact fastNlMeansDenoisingColored on one output tile, as a Triton device function.

Bit for bit with ucfast/reference/nlm.py (shared/SPEC-denoisers.md sections 2 and 3); all integer.

One program owns a TH x TW tile of output pixels and keeps everything on chip:

- E: the tile's Lab pixels extended by M = template//2 + search//2 on every side, computed from
  the image pixels in the program (BORDER_REFLECT_101 source indices, the reference's integer
  tables), packed as L | a << 8 | b << 16 in one int32 lane each. Flattened, pitch PE = TW + 2M.
  No Lab plane exists in global memory.
- The patch domain: the (TH + T - 1) x (TW + T - 1) pixels whose squared differences enter the
  tile's patch distances (T = template), flattened with pitch PS = TW + T - 1. Output pixel (r, c)
  of the tile sits at flat index r * PS + c of the same domain: the box sum of a patch starting
  at (r, c) is the distance of the pixel at (r + T//2, c + T//2).
- A loop (not unrolled) over the search x search offsets: one gather of the shifted Lab block from E,
  the two squared-difference planes (L: 1 channel, ab: 2 channels, summed), each box-summed
  separably (T consecutive rows at stride PS, then T consecutive columns at stride 1) by doubling
  (T = 7: 4 shifted adds per direction instead of 6), the weights from ucfast.ops.denoisers'
  truncated tables (which stay in L1), and the weighted sums.
- Finally (est + wsum/2) / wsum in unsigned arithmetic and Lab -> pixels with the inverse tables.

Shifts of register tensors are rank-1 `tl.gather`s on the flattened tile; indices past the end are
clamped, which only feeds lanes outside the tile. Rank 1 matters on a GPU: Triton lowers a gather
through shared memory, except a gather along an axis it can keep inside one warp, which it lowers
to warp shuffles whose number grows with the square of the elements per thread (a [BLOCK, 2]
gather took ptxas an hour and spilled; tools: bench/aot/triton_sm90.py).
"""
from __future__ import annotations

import triton
import triton.language as tl

from .lab import lab_forward, lab_inverse
from .pixels import load_u8, reflect101

TILE_MAX_TEMPLATE = 21  # limits of this kernel's tiling, not of the algorithm (reasons() says so)
TILE_MAX_SEARCH = 41


def choose_tile(height: int, width: int, margin: int, max_block: int, min_block: int) -> tuple[int, int, int]:
    """(TH, TW, BLOCK): tiles of TH x TW outputs whose (TH + margin) x (TW + margin) domain fits a
    power-of-two BLOCK <= max_block, minimising the lanes launched over the image, a program
    counting at least `min_block` lanes (its fixed cost), then the number of programs. Tiles are
    at least 32 pixels wide where the image and max_block allow it, so that rows load coalesced."""
    for min_width in (min(width, 32), 1):
        best = None
        for tiles_x in range(1, width + 1):
            tw = -(-width // tiles_x)
            if tw < min_width:
                break
            if tiles_x > 1 and tw == -(-width // (tiles_x - 1)):
                continue
            pitch = tw + margin
            th_max = max_block // pitch - margin
            if th_max < 1:
                continue
            tiles_y = -(-height // th_max)
            th = -(-height // tiles_y)
            block = triton.next_power_of_2((th + margin) * pitch)
            cost = (tiles_x * tiles_y * max(block, min_block), tiles_x * tiles_y)
            if best is None or cost < best[0]:
                best = (cost, th, tw, block)
        if best is not None:
            return best[1], best[2], best[3]
    raise ValueError(f"no tile of at most {max_block} lanes fits a margin of {margin}")


@triton.jit
def box_sum(x, k, step, T: tl.constexpr, LOG_T: tl.constexpr, BLOCK: tl.constexpr):
    """out[k] = sum of x[k + i * step] for i < T along axis 0 (lanes past the end read the last lane),
    by doubling: p holds sums of 2^i terms and the set bits of T pick which to add (T = 7: 1 + 2 + 4
    terms, 4 shifted adds). x and k (the lane indices): [BLOCK]."""
    acc = tl.zeros_like(x)
    p = x
    for i in tl.static_range(LOG_T):
        if (T >> i) & 1:
            if (T & ((1 << i) - 1)) == 0:
                acc += p
            else:
                acc += tl.gather(p, tl.minimum(k + (T & ((1 << i) - 1)) * step, BLOCK - 1), 0)
        if i + 1 < LOG_T:
            p = p + tl.gather(p, tl.minimum(k + (1 << i) * step, BLOCK - 1), 0)
    return acc


@triton.jit
def _divide(est, wsum):
    """(est + wsum // 2) // wsum in unsigned 32-bit arithmetic, as OpenCV; int32 0..255."""
    wsum = tl.maximum(wsum, 1).to(tl.uint32)  # >= w[0] on real lanes; keeps padding lanes finite
    q = (est.to(tl.uint32) + wsum // 2) // wsum
    return tl.minimum(q, 255).to(tl.int32)


@triton.jit
def nlm_tile(
    img_ptr, s_c, s_h, s_w, H, W, y0, x0, k, r, c, PS, PE,
    fwd_ptr, cbrt_ptr, inv_ptr, y_ptr, fy_ptr, xz_ptr,
    wl_ptr, wl_last, wab_ptr, wab_last, w_shift,
    IS_FLOAT: tl.constexpr, T: tl.constexpr, S: tl.constexpr, LOG_T: tl.constexpr,
    BLOCK: tl.constexpr, BLOCK_E: tl.constexpr,
):
    """Denoised pixels (three int32 [BLOCK]) of the tile at (y0, x0); lane r * PS + c is output (r, c)."""
    T2: tl.constexpr = T // 2
    S2: tl.constexpr = S // 2
    M: tl.constexpr = T2 + S2

    ke = tl.arange(0, BLOCK_E)  # E: the tile's Lab pixels, extended by M
    ey = reflect101(y0 - M + ke // PE, H).to(tl.int64)
    ex = reflect101(x0 - M + ke % PE, W).to(tl.int64)
    off = ey * s_h + ex * s_w
    light, a, b = lab_forward(load_u8(img_ptr, off, IS_FLOAT), load_u8(img_ptr, off + s_c, IS_FLOAT),
                              load_u8(img_ptr, off + 2 * s_c, IS_FLOAT), fwd_ptr, cbrt_ptr)
    lab = light | (a << 8) | (b << 16)  # [BLOCK_E]

    base = (r + S2) * PE + c + S2  # patch-domain lane -> its E lane at offset (0, 0)
    ref = tl.gather(lab, tl.minimum(base, BLOCK_E - 1), 0)  # [BLOCK], packed like lab: one register per lane
    centre = T2 * PS + T2  # patch-domain lane of the pixel whose patch starts at lane 0

    est_l = tl.zeros((BLOCK,), tl.int32)
    est_a = tl.zeros((BLOCK,), tl.int32)
    est_b = tl.zeros((BLOCK,), tl.int32)
    wsum_l = tl.zeros((BLOCK,), tl.int32)
    wsum_ab = tl.zeros((BLOCK,), tl.int32)
    for o in tl.range(S * S):
        dy = o // S - S2
        dx = o % S - S2
        cand = tl.gather(lab, tl.minimum(base + dy * PE + dx, BLOCK_E - 1), 0)  # [BLOCK]
        d_l = (ref & 255) - (cand & 255)
        d_a = ((ref >> 8) & 255) - ((cand >> 8) & 255)
        d_b = (ref >> 16) - (cand >> 16)
        dist_l = box_sum(box_sum(d_l * d_l, k, PS, T, LOG_T, BLOCK), k, 1, T, LOG_T, BLOCK)
        dist_ab = box_sum(box_sum(d_a * d_a + d_b * d_b, k, PS, T, LOG_T, BLOCK), k, 1, T, LOG_T, BLOCK)
        w_l = tl.load(wl_ptr + tl.minimum(dist_l >> w_shift, wl_last))
        w_ab = tl.load(wab_ptr + tl.minimum(dist_ab >> w_shift, wab_last))
        value = tl.gather(cand, tl.minimum(k + centre, BLOCK - 1), 0)  # the candidate pixel of output lane k
        est_l += w_l * (value & 255)
        est_a += w_ab * ((value >> 8) & 255)
        est_b += w_ab * (value >> 16)
        wsum_l += w_l
        wsum_ab += w_ab
    return lab_inverse(_divide(est_l, wsum_l), _divide(est_a, wsum_ab), _divide(est_b, wsum_ab),
                       inv_ptr, y_ptr, fy_ptr, xz_ptr)
