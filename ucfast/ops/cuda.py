"""The `cuda` backend: ucfast._cuda behind every op, on the caller's current CUDA stream, with the tables of
ucfast/ops/denoisers.py."""
from __future__ import annotations

import torch

from ..reference.susceptibility import DISTANCES, SPACES
from ..reference.susceptibility import check_args as check_susceptibility_args
from . import compiled
from .compiled import DTYPE_CODES, nlm_args, unit_input, variants_output
from .denoisers import BITDEPTH_LEVELS, DENOISERS, NLM, bitdepth_table, border_map, check_kernel_size, check_nlm_args


def _stream(device: torch.device) -> tuple[int, int]:
    index = device.index if device.index is not None else torch.cuda.current_device()
    return index, torch.cuda.current_stream(index).cuda_stream


def median(pixels: torch.Tensor) -> torch.Tensor:
    out = torch.empty(pixels.shape, dtype=torch.uint8, device=pixels.device)
    n, _, h, w = pixels.shape
    if out.numel():
        compiled._cuda.median(pixels.data_ptr(), pixels.stride(), out.data_ptr(), n, h, w, *_stream(pixels.device))
    return out


def median_kxk(pixels: torch.Tensor, k: int) -> torch.Tensor:
    check_kernel_size(k)
    out = torch.empty(pixels.shape, dtype=torch.uint8, device=pixels.device)
    n, _, h, w = pixels.shape
    if out.numel():
        rows, cols = (border_map("symmetric", size, k // 2, out.device) for size in (h, w))
        compiled._cuda.median_kxk(pixels.data_ptr(), pixels.stride(), out.data_ptr(), n, h, w, k, rows.data_ptr(),
                                  cols.data_ptr(), *_stream(pixels.device))
    return out


def bitdepth(pixels: torch.Tensor, levels: int) -> torch.Tensor:
    out = torch.empty(pixels.shape, dtype=torch.uint8, device=pixels.device)
    n, _, h, w = pixels.shape
    if out.numel():
        table = bitdepth_table(levels, pixels.device)
        compiled._cuda.lookup(pixels.data_ptr(), pixels.stride(), out.data_ptr(), n, h, w, table.data_ptr(),
                              *_stream(pixels.device))
    return out


def nlm(pixels, h, h_color, template, search):
    out = torch.empty(pixels.shape, dtype=torch.uint8, device=pixels.device)
    if out.numel() == 0:
        check_nlm_args(h, h_color, template, search)
        return out
    args, _keep = nlm_args(pixels, h, h_color, template, search)
    scratch = torch.empty_like(out)  # [N, 3, H, W] Lab of the input
    n, _, height, width = pixels.shape
    device, stream = _stream(pixels.device)
    compiled._cuda.nlm(pixels.data_ptr(), pixels.stride(), out.data_ptr(), n, height, width,
                       scratch=scratch.data_ptr(), device=device, stream=stream, **args)
    return out


def variants(images, names, amplify, mean, std, dtype, channels_last):
    """One fused launch: every denoiser, the amplification, the normalisation and the packing into the
    model's dtype and memory format (csrc/cuda/variants.cu); no denoised image goes through memory."""
    out = variants_output(images, names, dtype, channels_last)
    if out.numel() == 0:
        return out
    x = unit_input(images)
    args, _keep = nlm_args(x, *NLM.astuple())
    table = bitdepth_table(BITDEPTH_LEVELS, x.device)
    b, _, h, w = x.shape
    device, stream = _stream(x.device)
    compiled._cuda.variants(x.data_ptr(), DTYPE_CODES[x.dtype], x.stride(), [DENOISERS.index(n) for n in names],
                            out.data_ptr(), DTYPE_CODES[dtype], out.stride(), b, h, w, float(amplify), list(mean),
                            list(std), bitdepth=table.data_ptr(), device=device, stream=stream, **args)
    return out


def susceptibility(logits, num_variants, space, distance):
    b, k = check_susceptibility_args(logits, num_variants, space, distance)
    z = logits if logits.stride(1) == 1 else logits.contiguous()
    total = torch.empty(b, dtype=torch.float32, device=logits.device)
    dist = torch.empty(num_variants - 1, b, dtype=torch.float32, device=logits.device)
    pred = torch.empty(b, dtype=torch.int64, device=logits.device)
    if b:
        compiled._cuda.susceptibility(z.data_ptr(), DTYPE_CODES[z.dtype], z.stride(0), num_variants, b, k,
                                      SPACES.index(space), DISTANCES.index(distance), total.data_ptr(),
                                      dist.data_ptr(), pred.data_ptr(), *_stream(logits.device))
    return total, dist, pred


compiled.register("cuda", {"median": median, "median_kxk": median_kxk, "nlm": nlm, "bitdepth": bitdepth,
                           "variants": variants, "susceptibility": susceptibility})
