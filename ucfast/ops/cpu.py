"""The `cpu` backend: ucfast._cpu (C++17, OpenMP) behind every op, with the tables of ucfast/ops/denoisers.py."""
from __future__ import annotations

import torch

from ..images import to_uint8
from ..reference.susceptibility import DISTANCES, SPACES
from ..reference.susceptibility import check_args as check_susceptibility_args
from . import compiled
from .compiled import DTYPE_CODES, nlm_args, unit_input, variants_output
from .denoisers import bitdepth_table, border_map, check_kernel_size, check_nlm_args, denoise


def _threads() -> int:
    return torch.get_num_threads()


def median(pixels: torch.Tensor) -> torch.Tensor:
    out = torch.empty(pixels.shape, dtype=torch.uint8)
    n, _, h, w = pixels.shape
    compiled._cpu.median(pixels.data_ptr(), pixels.stride(), out.data_ptr(), n, h, w, _threads())
    return out


def median_kxk(pixels: torch.Tensor, k: int) -> torch.Tensor:
    check_kernel_size(k)
    out = torch.empty(pixels.shape, dtype=torch.uint8)
    n, _, h, w = pixels.shape
    if out.numel():
        rows, cols = border_map("symmetric", h, k // 2, out.device), border_map("symmetric", w, k // 2, out.device)
        compiled._cpu.median_kxk(pixels.data_ptr(), pixels.stride(), out.data_ptr(), n, h, w, k, rows.data_ptr(),
                                 cols.data_ptr(), _threads())
    return out


def bitdepth(pixels: torch.Tensor, levels: int) -> torch.Tensor:
    table = bitdepth_table(levels, pixels.device)
    out = torch.empty(pixels.shape, dtype=torch.uint8)
    n, _, h, w = pixels.shape
    compiled._cpu.lookup(pixels.data_ptr(), pixels.stride(), out.data_ptr(), n, h, w, table.data_ptr(), _threads())
    return out


def nlm(pixels, h, h_color, template, search):
    out = torch.empty(pixels.shape, dtype=torch.uint8)
    if out.numel() == 0:
        check_nlm_args(h, h_color, template, search)
        return out
    args, _keep = nlm_args(pixels, h, h_color, template, search)
    n, _, height, width = pixels.shape
    compiled._cpu.nlm(pixels.data_ptr(), pixels.stride(), out.data_ptr(), n, height, width, threads=_threads(),
                      **args)
    return out


def variants(images, names, amplify, mean, std, dtype, channels_last):
    out = variants_output(images, names, dtype, channels_last)
    pixels = to_uint8(images).contiguous()
    denoised = [denoise(name, pixels, median, nlm, bitdepth) for name in names]
    if out.numel() == 0:
        return out
    x = unit_input(images)
    b, _, h, w = images.shape
    compiled._cpu.variants(x.data_ptr(), DTYPE_CODES[x.dtype], x.stride(), [d.data_ptr() for d in denoised],
                           out.data_ptr(), DTYPE_CODES[dtype], out.stride(), b, h, w, float(amplify), list(mean),
                           list(std), _threads())
    return out


def susceptibility(logits, num_variants, space, distance):
    b, k = check_susceptibility_args(logits, num_variants, space, distance)
    z = logits.float()
    if z.stride(1) != 1:
        z = z.contiguous()
    total = torch.empty(b, dtype=torch.float32)
    dist = torch.empty(num_variants - 1, b, dtype=torch.float32)
    pred = torch.empty(b, dtype=torch.int64)
    if b:
        compiled._cpu.susceptibility(z.data_ptr(), z.stride(0), num_variants, b, k, SPACES.index(space),
                                     DISTANCES.index(distance), total.data_ptr(), dist.data_ptr(), pred.data_ptr(),
                                     _threads())
    return total, dist, pred


compiled.register("cpu", {"median": median, "median_kxk": median_kxk, "nlm": nlm, "bitdepth": bitdepth,
                          "variants": variants, "susceptibility": susceptibility})
