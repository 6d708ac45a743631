"""Fused variants: [B, 3, H, W] pixels -> [V*B, 3, H, W] model input, in one kernel launch.

Same semantics as ucfast/reference/variants.py: the original first, then one block of B per
denoiser in the order given; v = x + beta * (D(x)/255 - x) in 0..1 units, (v - mean) / std,
cast to the model's dtype and written in its memory format (any output strides). Input strides
are kernel arguments (contiguous, channels_last, sliced, expanded grey: no copy).

One program per (image, tile). A tile is TH x TW output pixels, flattened onto BLOCK lanes with
pitch PS (PS = TW, or TW + template - 1 when the NLM needs its patch margin). The program loads
the tile's pixels once and writes every variant of them: median and bit depth from the pixels
around each output (L1 hits between neighbours), the NLM from its on-chip Lab tile (kernels/nlm.py).
Denoised pixels never touch global memory, except through the optional `pixels` output that the
standalone median/nlm/bitdepth ops (and the tests) use.
"""
from __future__ import annotations

import os

import torch
import triton
import triton.language as tl

from ucfast.ops.denoisers import (BITDEPTH_LEVELS, NLM, LabTables, NlmTables, check_denoisers, lab_tables,
                                  nlm_tables)

from .bitdepth import bitdepth
from .median import median_2x2x3
from .nlm import TILE_MAX_SEARCH, TILE_MAX_TEMPLATE, choose_tile, nlm_tile
from .pixels import load_u8, to_u8
from .runtime import keep_configs

INTERPRET = os.environ.get("TRITON_INTERPRET", "") == "1"
MAX_BLOCK = 4096 if INTERPRET else 2048  # lanes of one tile (sm_90: 4 per thread of 16 warps)
# Lanes a program costs at least: a few warps on a GPU; under the interpreter a program's cost is
# per operation, not per lane, so there the fewest programs win.
MIN_BLOCK = MAX_BLOCK if INTERPRET else 256
# Lanes of an NLM tile: its search loop keeps ~10 values per lane live (the Lab tile, accumulators,
# gather indices), so sm_90 holds 2 lanes per thread of 16 warps without spilling (bench/aot/triton_sm90.py).
NLM_MAX_BLOCK = MAX_BLOCK if INTERPRET else 1024
OUT_DTYPES = (torch.float32, torch.bfloat16, torch.float16)


@triton.jit
def _emit(out_ptr, o_img, so_c, pix_ptr, p_img, plane, o_pix, p_pix, valid,
          d0, d1, d2, u0, u1, u2, mean0, mean1, mean2, std0, std1, std2, beta,
          DENOISED: tl.constexpr, WRITE_MODEL: tl.constexpr, WRITE_PIXELS: tl.constexpr):
    """Write one variant of the tile: normalised model input and/or the 8-bit denoised pixels."""
    if WRITE_MODEL:
        v0 = u0
        v1 = u1
        v2 = u2
        if DENOISED:
            v0 = u0 + beta * (d0.to(tl.float32) / 255.0 - u0)
            v1 = u1 + beta * (d1.to(tl.float32) / 255.0 - u1)
            v2 = u2 + beta * (d2.to(tl.float32) / 255.0 - u2)
        ty = out_ptr.dtype.element_ty
        dst = out_ptr + o_img + o_pix
        tl.store(dst, ((v0 - mean0) / std0).to(ty), mask=valid)
        tl.store(dst + so_c, ((v1 - mean1) / std1).to(ty), mask=valid)
        tl.store(dst + 2 * so_c, ((v2 - mean2) / std2).to(ty), mask=valid)
    if WRITE_PIXELS:
        dst = pix_ptr + p_img + p_pix
        tl.store(dst, d0.to(tl.uint8), mask=valid)
        tl.store(dst + plane, d1.to(tl.uint8), mask=valid)
        tl.store(dst + 2 * plane, d2.to(tl.uint8), mask=valid)


@triton.jit
def variants_fwd_kernel(
    x_ptr, sx_b, sx_c, sx_h, sx_w,  # pixels [B, 3, H, W], uint8 or float 0..1, any strides
    out_ptr, so_b, so_c, so_h, so_w,  # model input [V*B, 3, H, W], any strides
    pix_ptr,  # denoised pixels [V-1, B, 3, H, W] uint8 contiguous (WRITE_PIXELS)
    mean0, mean1, mean2, std0, std1, std2, beta,
    fwd_ptr, cbrt_ptr, inv_ptr, y_ptr, fy_ptr, xz_ptr,  # Lab tables (ucfast.ops.denoisers.lab_tables)
    wl_ptr, wl_last, wab_ptr, wab_last, w_shift,  # NLM weights of the L and ab planes (.nlm_tables)
    levels,  # bit depth
    B, H, W, TH, TW, TILES_X, TILES, PS, PE,
    SLOT_MEDIAN: tl.constexpr, SLOT_NLM: tl.constexpr, SLOT_BITDEPTH: tl.constexpr,  # 0: absent
    IS_FLOAT: tl.constexpr, WRITE_MODEL: tl.constexpr, WRITE_PIXELS: tl.constexpr,
    T: tl.constexpr, S: tl.constexpr, LOG_T: tl.constexpr, BLOCK: tl.constexpr, BLOCK_E: tl.constexpr,
):
    pid = tl.program_id(0)
    b = (pid // TILES).to(tl.int64)
    tile = pid % TILES
    y0 = (tile // TILES_X) * TH
    x0 = (tile % TILES_X) * TW
    k = tl.arange(0, BLOCK)
    r = k // PS
    c = k % PS
    y = y0 + r
    x = x0 + c
    valid = (r < TH) & (c < TW) & (y < H) & (x < W)
    yc = tl.minimum(y, H - 1).to(tl.int64)  # clamped: every load is in bounds, no masks
    xc = tl.minimum(x, W - 1).to(tl.int64)
    img = x_ptr + b * sx_b
    if SLOT_NLM > 0:  # first, so that nothing else is live across its loop over the search window
        n0, n1, n2 = nlm_tile(img, sx_c, sx_h, sx_w, H, W, y0, x0, k, r, c, PS, PE,
                              fwd_ptr, cbrt_ptr, inv_ptr, y_ptr, fy_ptr, xz_ptr,
                              wl_ptr, wl_last, wab_ptr, wab_last, w_shift,
                              IS_FLOAT, T, S, LOG_T, BLOCK, BLOCK_E)
    at = yc * sx_h + xc * sx_w
    raw0 = tl.load(img + at)
    raw1 = tl.load(img + at + sx_c)
    raw2 = tl.load(img + at + 2 * sx_c)
    p0 = to_u8(raw0, IS_FLOAT)
    p1 = to_u8(raw1, IS_FLOAT)
    p2 = to_u8(raw2, IS_FLOAT)
    if IS_FLOAT:
        u0 = raw0.to(tl.float32)
        u1 = raw1.to(tl.float32)
        u2 = raw2.to(tl.float32)
    else:
        u0 = p0.to(tl.float32) / 255.0
        u1 = p1.to(tl.float32) / 255.0
        u2 = p2.to(tl.float32) / 255.0

    o_pix = yc * so_h + xc * so_w
    plane = tl.cast(H, tl.int64) * W
    p_pix = yc * W + xc
    img_stride = 3 * plane  # of the pixels output
    if WRITE_MODEL:
        _emit(out_ptr, b * so_b, so_c, pix_ptr, 0, plane, o_pix, p_pix, valid, p0, p1, p2, u0, u1, u2,
              mean0, mean1, mean2, std0, std1, std2, beta, False, True, False)
    if SLOT_MEDIAN > 0:
        ym = tl.maximum(yc - 1, 0) * sx_h  # row and column -1 reflect to 0
        xm = tl.maximum(xc - 1, 0) * sx_w
        yh = yc * sx_h
        xw = xc * sx_w
        m0, m1, m2 = median_2x2x3(
            load_u8(img, ym + xm, IS_FLOAT), load_u8(img, ym + xw, IS_FLOAT), load_u8(img, yh + xm, IS_FLOAT), p0,
            load_u8(img, ym + xm + sx_c, IS_FLOAT), load_u8(img, ym + xw + sx_c, IS_FLOAT),
            load_u8(img, yh + xm + sx_c, IS_FLOAT), p1,
            load_u8(img, ym + xm + 2 * sx_c, IS_FLOAT), load_u8(img, ym + xw + 2 * sx_c, IS_FLOAT),
            load_u8(img, yh + xm + 2 * sx_c, IS_FLOAT), p2)
        slot = SLOT_MEDIAN * B + b
        _emit(out_ptr, slot * so_b, so_c, pix_ptr, (slot - B) * img_stride, plane, o_pix, p_pix, valid,
              m0, m1, m2, u0, u1, u2, mean0, mean1, mean2, std0, std1, std2, beta, True, WRITE_MODEL, WRITE_PIXELS)
    if SLOT_NLM > 0:
        slot = SLOT_NLM * B + b
        _emit(out_ptr, slot * so_b, so_c, pix_ptr, (slot - B) * img_stride, plane, o_pix, p_pix, valid,
              n0, n1, n2, u0, u1, u2, mean0, mean1, mean2, std0, std1, std2, beta, True, WRITE_MODEL, WRITE_PIXELS)
    if SLOT_BITDEPTH > 0:
        slot = SLOT_BITDEPTH * B + b
        _emit(out_ptr, slot * so_b, so_c, pix_ptr, (slot - B) * img_stride, plane, o_pix, p_pix, valid,
              bitdepth(p0, levels), bitdepth(p1, levels), bitdepth(p2, levels), u0, u1, u2,
              mean0, mean1, mean2, std0, std1, std2, beta, True, WRITE_MODEL, WRITE_PIXELS)


def _configs_without_spills(configs, named_args, **kwargs):
    """At most 2 tile lanes (and 4 Lab-tile lanes) per thread with the NLM, 4 without: what sm_90 holds
    without spilling (bench/results/triton_sm90.md). An NLM config may take all the registers the SM has
    for one block (maxnreg): left to itself, ptxas 12.8 aims at two 16-warp blocks (64 registers) and spills."""
    if kwargs["SLOT_NLM"] == 0:
        return keep_configs(configs, kwargs["BLOCK"], 4)
    configs = keep_configs(keep_configs(configs, kwargs["BLOCK"], 2), kwargs["BLOCK_E"], 4)
    return [triton.Config(c.kwargs, num_warps=c.num_warps, num_stages=c.num_stages,
                          maxnreg=min(255, 65536 // (32 * c.num_warps))) for c in configs]


if not INTERPRET:
    variants_fwd_kernel = triton.autotune(
        configs=[triton.Config({}, num_warps=w) for w in (4, 8, 16)],
        key=["BLOCK", "BLOCK_E", "SLOT_MEDIAN", "SLOT_NLM", "SLOT_BITDEPTH", "IS_FLOAT", "T", "S"],
        prune_configs_by={"early_config_prune": _configs_without_spills},
    )(variants_fwd_kernel)


def check_rgb_batch(images: torch.Tensor) -> None:
    """What these kernels read: [B, 3, H, W], uint8 0..255 or floating point 0..1, any strides."""
    if images.dim() != 4 or images.shape[1] != 3:
        raise ValueError(f"images must be [B, 3, H, W], got shape {tuple(images.shape)}")
    if images.dtype != torch.uint8 and not images.dtype.is_floating_point:
        raise TypeError(f"images must be uint8 (0..255) or floating point (0..1), got dtype {images.dtype}")


def _launch(images: torch.Tensor, slots: dict[str, int], out: torch.Tensor | None, pixels: torch.Tensor | None,
            mean, std, beta: float, nlm_args: tuple, levels: int, max_block: int, tile: tuple | None) -> None:
    """Run variants_fwd_kernel over every (image, tile); `slots` maps denoiser name -> output block (1..)."""
    n, _, height, width = images.shape
    if n == 0 or height == 0 or width == 0:
        return
    dev = images.device
    h, h_color, template, search = nlm_args
    use_nlm = "nlm" in slots
    margin = template - 1 if use_nlm else 0
    max_block = min(max_block, NLM_MAX_BLOCK) if use_nlm else max_block
    if tile is None:
        th, tw, block = choose_tile(height, width, margin, max_block, min(MIN_BLOCK, max_block))
    else:
        th, tw = min(tile[0], height), min(tile[1], width)
        block = triton.next_power_of_2((th + margin) * (tw + margin))
    tiles_x, tiles_y = -(-width // tw), -(-height // th)
    pe = tw + margin + search - 1
    block_e = triton.next_power_of_2((th + margin + search - 1) * pe) if use_nlm else 1
    if use_nlm:
        tabs, weights = lab_tables(dev), nlm_tables(float(h), float(h_color), template, search, dev)
    else:
        unused = torch.zeros(1, dtype=torch.int32, device=dev)
        tabs, weights = LabTables(*[unused] * 6), NlmTables(unused, unused, 0)
    write_model = out is not None
    if out is None:
        out = torch.empty(0, dtype=torch.float32, device=dev)
    if pixels is None:
        pixels = torch.empty(0, dtype=torch.uint8, device=dev)
    so = out.stride() if write_model else (0, 0, 0, 0)
    variants_fwd_kernel[(n * tiles_x * tiles_y,)](
        images, *images.stride(),
        out, *so,
        pixels,
        *(float(m) for m in mean), *(float(s) for s in std), float(beta),
        tabs.fwd, tabs.cbrt, tabs.inv, tabs.y, tabs.fy, tabs.xz,
        weights.light, weights.light.numel() - 1, weights.ab, weights.ab.numel() - 1, weights.shift,
        levels,
        n, height, width, th, tw, tiles_x, tiles_x * tiles_y, tw + margin, pe,
        SLOT_MEDIAN=slots.get("median", 0), SLOT_NLM=slots.get("nlm", 0), SLOT_BITDEPTH=slots.get("bitdepth", 0),
        IS_FLOAT=images.dtype.is_floating_point, WRITE_MODEL=write_model, WRITE_PIXELS=pixels.numel() > 0,
        T=template, S=search, LOG_T=template.bit_length(), BLOCK=block, BLOCK_E=block_e,
    )


def variants(images: torch.Tensor, denoisers: tuple[str, ...], amplify: float = 1.0,
             mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0), dtype: torch.dtype = torch.float32,
             channels_last: bool = False, *, out: torch.Tensor | None = None, pixels: torch.Tensor | None = None,
             max_block: int = MAX_BLOCK, tile: tuple[int, int] | None = None) -> torch.Tensor:
    """[B, 3, H, W] pixels -> [(1 + len(denoisers)) * B, 3, H, W] normalised model input (signature of
    ucfast/reference/variants.py). `out` takes a preallocated output of that shape (any strides);
    `pixels`, a contiguous uint8 [len(denoisers), B, 3, H, W], also receives the denoised pixels.
    `max_block` caps the lanes of a tile; `tile` = (rows, columns) of output pixels per program
    overrides the automatic choice (tests use both to cross tile borders on small images)."""
    check_rgb_batch(images)
    denoisers = check_denoisers(denoisers)
    if dtype not in OUT_DTYPES:
        raise TypeError(f"dtype must be one of {OUT_DTYPES}, got {dtype}")
    n, _, height, width = images.shape
    shape = ((1 + len(denoisers)) * n, 3, height, width)
    if out is None:
        fmt = torch.channels_last if channels_last else torch.contiguous_format
        out = torch.empty(shape, dtype=dtype, device=images.device, memory_format=fmt)
    elif tuple(out.shape) != shape or out.dtype != dtype:
        raise ValueError(f"out must be {dtype} of shape {shape}, got {out.dtype} of shape {tuple(out.shape)}")
    if pixels is not None and (tuple(pixels.shape) != (len(denoisers), n, 3, height, width)
                               or pixels.dtype != torch.uint8 or not pixels.is_contiguous()):
        raise ValueError(f"pixels must be contiguous uint8 of shape {(len(denoisers), n, 3, height, width)}")
    _launch(images, {name: i + 1 for i, name in enumerate(denoisers)}, out, pixels, mean, std, amplify,
            NLM.astuple(), BITDEPTH_LEVELS, max_block, tile)
    return out


def denoise(pixels: torch.Tensor, name: str, *, nlm_args: tuple | None = None, levels: int = BITDEPTH_LEVELS,
            out: torch.Tensor | None = None, max_block: int = MAX_BLOCK,
            tile: tuple[int, int] | None = None) -> torch.Tensor:
    """One denoiser on [N, 3, H, W] uint8 pixels (any strides) -> contiguous uint8 [N, 3, H, W]."""
    check_rgb_batch(pixels)
    if out is None:
        out = torch.empty(pixels.shape, dtype=torch.uint8, device=pixels.device)
    if nlm_args is None:
        nlm_args = NLM.astuple()
    _launch(pixels, {name: 1}, None, out.view(1, *out.shape), (0.0,) * 3, (1.0,) * 3, 1.0, nlm_args, levels,
            max_block, tile)
    return out


def nlm_limits_reasons(template: int, search: int) -> list[str]:
    """Why this kernel's tiling cannot take these NLM sizes."""
    out = []
    if template > TILE_MAX_TEMPLATE:
        out.append(f"the triton nlm's tiling supports template <= {TILE_MAX_TEMPLATE}, got {template}")
    if search > TILE_MAX_SEARCH:
        out.append(f"the triton nlm's tiling supports search <= {TILE_MAX_SEARCH}, got {search}")
    return out
