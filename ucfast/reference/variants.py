"""Reference of the variants op: pixels -> the model's batched input for all variants.

For a batch x of B images (uint8 0..255 or float 0..1) and denoisers D_1..D_m, the output is
[V*B, 3, H, W] with V = m + 1: the original first, then one block of B per denoiser in the
order given. Each variant is v = x + beta * (D(x) - x) in 0..1 units (beta = 1: the denoised
image itself), then normalised (v - mean) / std and cast to the model's dtype and memory format.
Denoisers see 8-bit pixels: float input is rounded to the nearest integer first.
"""
from __future__ import annotations

import torch

from ..images import to_uint8, to_unit
from ..ops.denoisers import denoise as denoise_with
from .bitdepth import bitdepth
from .median import median
from .nlm import nlm


def denoise(name: str, pixels: torch.Tensor) -> torch.Tensor:
    """One named denoiser (ucfast.ops.denoisers) with its UltraClean parameters on [N, 3, H, W] uint8 pixels."""
    return denoise_with(name, pixels, median, nlm, bitdepth)


def variants(
    images: torch.Tensor,
    denoisers: tuple[str, ...],
    amplify: float = 1.0,
    mean: tuple[float, float, float] = (0.0, 0.0, 0.0),
    std: tuple[float, float, float] = (1.0, 1.0, 1.0),
    dtype: torch.dtype = torch.float32,
    channels_last: bool = False,
) -> torch.Tensor:
    """[B, 3, H, W] images -> [(1 + len(denoisers)) * B, 3, H, W] normalised model input."""
    x = to_unit(images)  # [B, 3, H, W] float32 0..1
    pixels = to_uint8(images).contiguous()
    outs = [x]
    for name in denoisers:
        d = denoise(name, pixels).float() / 255.0
        outs.append(torch.lerp(x, d, amplify))  # exactly d when amplify == 1
    v = torch.cat(outs, 0)  # [V*B, 3, H, W]
    m = torch.tensor(mean, dtype=torch.float32, device=v.device).view(1, 3, 1, 1)
    s = torch.tensor(std, dtype=torch.float32, device=v.device).view(1, 3, 1, 1)
    v = ((v - m) / s).to(dtype)
    return v.contiguous(memory_format=torch.channels_last if channels_last else torch.contiguous_format)
