"""The ucfast ops, each declared once as a torch custom op (torch.library) with a fake implementation.

Every op takes a `backend` string and dispatches through `ucfast.backends`; the implementations
(torch reference, Triton, compiled CPU/CUDA) register themselves there. The fake implementations
give shapes, dtypes and strides only, so `torch.compile` can trace through the ops.
"""
from __future__ import annotations

import torch

from . import backends


def _call(op: str, backend: str, first: torch.Tensor, *args):
    _, fn = backends.resolve(op, backend, first.device, first, *args)
    return fn(first, *args)


@torch.library.custom_op("ucfast::median", mutates_args=())
def median(pixels: torch.Tensor, backend: str) -> torch.Tensor:
    """UltraClean 2 x 2 x 3 cross-channel median. [N, 3, H, W] uint8 -> same."""
    return _call("median", backend, pixels.contiguous())


@torch.library.custom_op("ucfast::median_kxk", mutates_args=())
def median_kxk(pixels: torch.Tensor, k: int, backend: str) -> torch.Tensor:
    """Per-channel k x k median, k odd. [N, 3, H, W] uint8 -> same."""
    return _call("median_kxk", backend, pixels.contiguous(), k)


@torch.library.custom_op("ucfast::nlm", mutates_args=())
def nlm(pixels: torch.Tensor, h: float, h_color: float, template: int, search: int, backend: str) -> torch.Tensor:
    """OpenCV-exact fastNlMeansDenoisingColored. [N, 3, H, W] uint8 -> same."""
    return _call("nlm", backend, pixels.contiguous(), h, h_color, template, search)


@torch.library.custom_op("ucfast::bitdepth", mutates_args=())
def bitdepth(pixels: torch.Tensor, levels: int, backend: str) -> torch.Tensor:
    """Colour-depth reduction to `levels` values per channel. [N, 3, H, W] uint8 -> same."""
    return _call("bitdepth", backend, pixels.contiguous(), levels)


@torch.library.custom_op("ucfast::variants", mutates_args=())
def variants(
    images: torch.Tensor,
    denoisers: str,
    amplify: float,
    mean: list[float],
    std: list[float],
    dtype: torch.dtype,
    channels_last: bool,
    backend: str,
) -> torch.Tensor:
    """[B, 3, H, W] pixels -> [V*B, 3, H, W] model input (`denoisers` comma-separated names)."""
    names = tuple(n for n in denoisers.split(",") if n)
    return _call("variants", backend, images, names, amplify, tuple(mean), tuple(std), dtype, channels_last)


@torch.library.custom_op("ucfast::susceptibility", mutates_args=())
def susceptibility(
    logits: torch.Tensor, num_variants: int, space: str, distance: str, backend: str
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """[V*B, K] logits -> score [B] float32, distances [V-1, B] float32, prediction [B] int64."""
    return _call("susceptibility", backend, logits, num_variants, space, distance)


@median.register_fake
def _(pixels, backend):
    return torch.empty_like(pixels, memory_format=torch.contiguous_format)


@median_kxk.register_fake
def _(pixels, k, backend):
    return torch.empty_like(pixels, memory_format=torch.contiguous_format)


@nlm.register_fake
def _(pixels, h, h_color, template, search, backend):
    return torch.empty_like(pixels, memory_format=torch.contiguous_format)


@bitdepth.register_fake
def _(pixels, levels, backend):
    return torch.empty_like(pixels, memory_format=torch.contiguous_format)


@variants.register_fake
def _(images, denoisers, amplify, mean, std, dtype, channels_last, backend):
    b, c, h, w = images.shape
    v = 1 + len([n for n in denoisers.split(",") if n])
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    return images.new_empty((v * b, c, h, w), dtype=dtype).contiguous(memory_format=fmt)


@susceptibility.register_fake
def _(logits, num_variants, space, distance, backend):
    b = logits.shape[0] // num_variants
    f = logits.new_empty((b,), dtype=torch.float32)
    return f, logits.new_empty((num_variants - 1, b), dtype=torch.float32), logits.new_empty((b,), dtype=torch.int64)
