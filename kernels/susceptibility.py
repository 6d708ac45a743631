"""Fused susceptibility: [V*B, K] logits -> score [B], per-variant distances [V-1, B], prediction [B].

Same semantics as ucfast/reference/susceptibility.py. One program per sample b reads its V rows
(the original at row b, variant v at row v*B + b) as one [V_BLOCK, BLOCK_K] tile:

- K <= the largest single tile: the rows are loaded once, softmax and distances come from registers.
- larger K (up to 21,841 and beyond): pass 1 runs an online softmax (running max and rescaled
  sum per row) and the argmax of the original over K in blocks; pass 2 re-reads the blocks
  (hot in L2) and accumulates the distances.

Everything is computed in float32 whatever the logits' dtype; row offsets are int64.
"""
from __future__ import annotations

import os

import torch
import triton
import triton.language as tl

from ucfast.reference.susceptibility import DISTANCES, check_args

from .runtime import keep_configs

INTERPRET = os.environ.get("TRITON_INTERPRET", "") == "1"
# Elements of the largest [V_BLOCK, BLOCK_K] tile held in registers at once, and the block along K
# when one tile cannot hold the rows: 16,384-element tiles spill on sm_90 at 2, 4 and 16 warps.
MAX_TILE = 8192
LOOP_BLOCK_K = 1024


@triton.jit
def _row_dist(p0, p, mask, DIST: tl.constexpr):
    """Distance of each row of p [V_BLOCK, BLOCK_K] from p0 [BLOCK_K] (l1, or the squared l2), partial over K."""
    diff = tl.where(mask, p0[None, :] - p, 0.0)
    if DIST == 0:
        return tl.sum(tl.abs(diff), axis=1)
    return tl.sum(diff * diff, axis=1)


@triton.jit
def susceptibility_fwd_kernel(
    logits_ptr, score_ptr, dist_ptr, pred_ptr,
    B, K, V, stride_row, stride_k,
    SOFTMAX: tl.constexpr, DIST: tl.constexpr,  # DIST: 0 l1, 1 l2, 2 kl
    V_BLOCK: tl.constexpr, BLOCK_K: tl.constexpr, ONE_BLOCK: tl.constexpr, ROW_ALIGN: tl.constexpr,
):
    b = tl.program_id(0).to(tl.int64)
    vs = tl.arange(0, V_BLOCK)  # [V_BLOCK]
    cols = tl.arange(0, BLOCK_K)  # [BLOCK_K]
    row_ok = vs < V
    row_off = tl.multiple_of((vs.to(tl.int64) * B + b) * stride_row, ROW_ALIGN)  # [V_BLOCK]
    ptrs = logits_ptr + row_off[:, None] + cols[None, :].to(tl.int64) * stride_k  # [V_BLOCK, BLOCK_K]
    first = (vs == 0)[:, None]
    neg_inf = float("-inf")

    if ONE_BLOCK:
        col_ok = cols < K
        mask = row_ok[:, None] & col_ok[None, :]
        z = tl.load(ptrs, mask=mask, other=0.0).to(tl.float32)
        zm = tl.where(col_ok[None, :], z, neg_inf)  # padding columns never win the max
        pred = tl.argmax(tl.max(tl.where(first, zm, neg_inf), axis=0), axis=0)
        if SOFTMAX:
            m = tl.max(zm, axis=1)  # [V_BLOCK]
            e = tl.exp(zm - m[:, None])
            s = tl.sum(e, axis=1)
            if DIST == 2:
                logp = z - m[:, None] - tl.log(s)[:, None]
                logp0 = tl.sum(tl.where(first, logp, 0.0), axis=0)  # [BLOCK_K]
                p0 = tl.exp(logp0)
                acc = tl.sum(tl.where(mask, p0[None, :] * (logp0[None, :] - logp), 0.0), axis=1)
            else:
                p = e / s[:, None]
                acc = _row_dist(tl.sum(tl.where(first, p, 0.0), axis=0), p, mask, DIST)
        else:
            acc = _row_dist(tl.sum(tl.where(first, z, 0.0), axis=0), z, mask, DIST)
    else:
        best = tl.full((), neg_inf, tl.float32)
        pred = tl.full((), 0, tl.int32)
        m = tl.full((V_BLOCK,), neg_inf, tl.float32)
        s = tl.zeros((V_BLOCK,), tl.float32)
        for k0 in range(0, K, BLOCK_K):  # pass 1: argmax of the original, online softmax of every row
            col_ok = (cols + k0) < K
            z = tl.load(ptrs + k0 * stride_k, mask=row_ok[:, None] & col_ok[None, :], other=0.0).to(tl.float32)
            zm = tl.where(col_ok[None, :], z, neg_inf)
            z0 = tl.max(tl.where(first, zm, neg_inf), axis=0)
            blk_best = tl.max(z0, axis=0)
            blk_pred = tl.argmax(z0, axis=0) + k0
            pred = tl.where(blk_best > best, blk_pred, pred)
            best = tl.maximum(best, blk_best)
            if SOFTMAX:
                m_new = tl.maximum(m, tl.max(zm, axis=1))
                s = s * tl.exp(m - m_new) + tl.sum(tl.exp(zm - m_new[:, None]), axis=1)
                m = m_new
        if SOFTMAX:
            log_s = tl.log(s)
        acc = tl.zeros((V_BLOCK,), tl.float32)
        for k0 in range(0, K, BLOCK_K):  # pass 2: distances
            col_ok = (cols + k0) < K
            mask = row_ok[:, None] & col_ok[None, :]
            z = tl.load(ptrs + k0 * stride_k, mask=mask, other=0.0).to(tl.float32)
            if SOFTMAX:
                logp = z - m[:, None] - log_s[:, None]
                if DIST == 2:
                    logp0 = tl.sum(tl.where(first, logp, 0.0), axis=0)
                    acc += tl.sum(tl.where(mask, tl.exp(logp0)[None, :] * (logp0[None, :] - logp), 0.0), axis=1)
                else:
                    p = tl.exp(logp)
                    acc += _row_dist(tl.sum(tl.where(first, p, 0.0), axis=0), p, mask, DIST)
            else:
                acc += _row_dist(tl.sum(tl.where(first, z, 0.0), axis=0), z, mask, DIST)

    if DIST == 1:
        acc = tl.sqrt(acc)
    variant = row_ok & (vs >= 1)
    tl.store(dist_ptr + (vs.to(tl.int64) - 1) * B + b, acc, mask=variant)
    tl.store(score_ptr + b, tl.sum(tl.where(variant, acc, 0.0), axis=0))
    tl.store(pred_ptr + b, pred.to(tl.int64))


def _configs_without_spills(configs, named_args, **kwargs):
    """At most 16 tile elements per thread: what sm_90 holds without spilling (bench/results/triton_sm90.md)."""
    return keep_configs(configs, kwargs["V_BLOCK"] * kwargs["BLOCK_K"], 16)


if not INTERPRET:
    susceptibility_fwd_kernel = triton.autotune(
        configs=[triton.Config({}, num_warps=w) for w in (2, 4, 8, 16)],
        key=["K", "V_BLOCK", "BLOCK_K", "SOFTMAX", "DIST"],
        prune_configs_by={"early_config_prune": _configs_without_spills},
    )(susceptibility_fwd_kernel)


def _row_align(stride_row: int) -> int:
    """The largest power of two (at most 16) dividing the row stride: lets the loads vectorise."""
    align = 1
    while align < 16 and stride_row % (2 * align) == 0:
        align *= 2
    return align


def susceptibility(logits: torch.Tensor, num_variants: int, space: str = "softmax", distance: str = "l1",
                   *, out: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None,
                   max_tile: int = MAX_TILE, loop_block_k: int = LOOP_BLOCK_K):
    """(score [B] float32, distances [V-1, B] float32, prediction [B] int64) of [V*B, K] logits, any strides.

    `out` takes preallocated (score, distances, prediction) buffers; `max_tile` and `loop_block_k`
    choose between the single-tile and the two-pass path (tests use them to reach both on small K).
    """
    check_args(logits, num_variants, space, distance)
    rows, k = logits.shape
    b = rows // num_variants
    if out is None:
        out = (torch.empty(b, dtype=torch.float32, device=logits.device),
               torch.empty(num_variants - 1, b, dtype=torch.float32, device=logits.device),
               torch.empty(b, dtype=torch.int64, device=logits.device))
    score, dist, pred = out
    if b == 0:
        return score, dist, pred
    if k == 0:
        raise ValueError("logits must have at least one class (K >= 1), got K = 0")
    v_block = triton.next_power_of_2(num_variants)
    block_k = triton.next_power_of_2(k)
    one_block = v_block * block_k <= max_tile
    if not one_block:
        block_k = min(loop_block_k, block_k)
    susceptibility_fwd_kernel[(b,)](
        logits, score, dist, pred,
        b, k, num_variants, logits.stride(0), logits.stride(1),
        SOFTMAX=space == "softmax", DIST=DISTANCES.index(distance),
        V_BLOCK=v_block, BLOCK_K=block_k, ONE_BLOCK=one_block, ROW_ALIGN=_row_align(logits.stride(0)),
    )
    return score, dist, pred
