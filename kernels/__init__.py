"""Triton kernels of ucfast, shipped as the subpackage ucfast.kernels.

Registers the "triton" backend of the ops variants, susceptibility, median, nlm and bitdepth with
`ucfast.backends`, each with a reasons function that says why it cannot run on given inputs.
This module imports without Triton (every reason then says Triton is missing); the kernel modules
are imported on first use, so TRITON_INTERPRET can still be set after `import ucfast`.

    variants.py        the fused variants kernel (and the standalone denoisers, same kernel)
    susceptibility.py  the fused susceptibility kernel
    median.py, nlm.py, bitdepth.py, lab.py, pixels.py   device functions the variants kernel inlines
"""
from __future__ import annotations

import torch

from ucfast.ops import backends

from .runtime import FLOAT_DTYPES, device_reasons


def _not_nchw3(t, name: str, dims: str) -> list[str]:
    """Why `t` is not a [N, 3, H, W] tensor (empty when it is)."""
    if isinstance(t, torch.Tensor) and t.dim() == 4 and t.shape[1] == 3:
        return []
    shape = tuple(t.shape) if isinstance(t, torch.Tensor) else type(t).__name__
    return [f"{name} must be a [{dims}, 3, H, W] tensor, got {shape}"]


def _pixels_reasons(device: torch.device, pixels) -> list[str]:
    why = device_reasons(device) or _not_nchw3(pixels, "pixels", "N")
    if not why and pixels.dtype != torch.uint8:
        why.append(f"pixels must be uint8, got {pixels.dtype}")
    return why


def _median(pixels):
    from .variants import denoise

    return denoise(pixels, "median")


def _bitdepth(pixels, levels):
    from .variants import denoise

    return denoise(pixels, "bitdepth", levels=levels)


def _bitdepth_reasons(device, pixels, levels) -> list[str]:
    why = _pixels_reasons(device, pixels)
    if not isinstance(levels, int) or not 2 <= levels <= 256:
        why.append(f"levels must be an integer in 2..256, got {levels!r}")
    return why


def _nlm(pixels, h, h_color, template, search):
    from ucfast.ops.denoisers import check_nlm_args

    from .variants import denoise

    check_nlm_args(h, h_color, template, search)
    return denoise(pixels, "nlm", nlm_args=(float(h), float(h_color), template, search))


def _nlm_reasons(device, pixels, h, h_color, template, search) -> list[str]:
    why = _pixels_reasons(device, pixels)
    if not why and isinstance(template, int) and isinstance(search, int):
        from .variants import nlm_limits_reasons

        why += nlm_limits_reasons(template, search)
    return why


def _variants(images, denoisers, amplify, mean, std, dtype, channels_last):
    from .variants import variants

    return variants(images, tuple(denoisers), amplify, mean, std, dtype, channels_last)


def _variants_reasons(device, images, denoisers, amplify, mean, std, dtype, channels_last) -> list[str]:
    why = device_reasons(device)
    if why:
        return why
    why = _not_nchw3(images, "images", "B")
    if not why and images.dtype != torch.uint8 and images.dtype not in FLOAT_DTYPES + (torch.float64,):
        why.append(f"images must be uint8 or float16/bfloat16/float32/float64, got {images.dtype}")
    if dtype not in FLOAT_DTYPES:
        why.append(f"the model dtype must be one of {FLOAT_DTYPES}, got {dtype}")
    return why


def _susceptibility(logits, num_variants, space, distance):
    from .susceptibility import susceptibility

    return susceptibility(logits, num_variants, space, distance)


def _susceptibility_reasons(device, logits, num_variants, space, distance) -> list[str]:
    why = device_reasons(device)
    if why:
        return why
    if not isinstance(logits, torch.Tensor) or logits.dim() != 2:
        shape = tuple(logits.shape) if isinstance(logits, torch.Tensor) else type(logits).__name__
        why.append(f"logits must be a [V*B, K] tensor, got {shape}")
    elif logits.dtype not in FLOAT_DTYPES + (torch.float64,):
        why.append(f"logits must be float32, bfloat16, float16 or float64, got {logits.dtype}")
    return why


backends.register("median", "triton", _median, _pixels_reasons, device_reasons)
backends.register("bitdepth", "triton", _bitdepth, _bitdepth_reasons, device_reasons)
backends.register("nlm", "triton", _nlm, _nlm_reasons, device_reasons)
backends.register("variants", "triton", _variants, _variants_reasons, device_reasons)
backends.register("susceptibility", "triton", _susceptibility, _susceptibility_reasons, device_reasons)
