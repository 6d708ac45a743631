"""Validation and conversion of un-normalised image batches.

ucfast takes images as a model's loader gives them before normalisation: uint8 in 0..255 or float
in 0..1, shaped N x 3 x H x W, or grey (N x H x W, N x 1 x H x W) which is repeated to 3 channels.
A 4-D batch whose dim 1 and dim 3 could both be channels (1 or 3) and whose dim 2 is larger (what a
channels-last batch of images 1 or 3 pixels tall looks like) is refused as ambiguous.
The denoisers work on 8-bit pixels; float input is rounded to the nearest integer (the authors'
code truncates; rounding is the documented ucfast behaviour).
"""
from __future__ import annotations

import numpy as np
import torch

# A batch's memory, estimated before its first denoising: the model input of every variant plus a
# 64-channel fp32 activation at half resolution (a typical first convolution), per pixel.
ACTIVATION_BYTES_PER_PIXEL = 64
# The first batch's pixels, normalised with mean/std, should have per-channel mean and std near 0 and 1.
WARN_MEAN, WARN_STD = 1.5, (0.2, 5.0)


def as_tensor(images, name: str = "images") -> torch.Tensor:
    """A torch tensor from a tensor or a numpy array, else a TypeError naming `name`."""
    if isinstance(images, torch.Tensor):
        return images
    if isinstance(images, np.ndarray):
        return torch.from_numpy(images)
    raise TypeError(f"{name} must be a torch.Tensor or numpy array, got {type(images).__name__}")


def check_images(images, name: str = "images", *, grey_ok: bool = True) -> torch.Tensor:
    """Validate an image batch and return it as N x 3 x H x W (grey repeated), dtype unchanged."""
    images = as_tensor(images, name)
    if images.dtype != torch.uint8 and not images.dtype.is_floating_point:
        raise TypeError(f"{name} must be uint8 (0..255) or floating point (0..1), got dtype {images.dtype}")
    if images.dim() == 3 and grey_ok:
        images = images.unsqueeze(1)
    if images.dim() != 4:
        shapes = "N x 3 x H x W, N x 1 x H x W or N x H x W" if grey_ok else "N x 3 x H x W"
        raise ValueError(f"{name} must be {shapes}, got shape {tuple(images.shape)}")
    _, channels, h, w = images.shape
    if channels in (1, 3) and w in (1, 3) and h > 3:
        raise ValueError(
            f"{name} of shape {tuple(images.shape)} is ambiguous: read as N x C x H x W its images are {h} x {w}"
            f" pixels, read as channels-last N x H x W x C they are {channels} x {h}; ucfast reads N x C x H x W and"
            " refuses images 1 or 3 pixels wide: permute a channels-last batch with .permute(0, 3, 1, 2)")
    if channels == 1 and grey_ok:
        images = images.expand(-1, 3, -1, -1)
    elif channels != 3:
        allowed = "1 or 3" if grey_ok else "3"
        hint = " (channels-last N x H x W x C? permute to N x C x H x W)" if images.shape[-1] in (1, 3) else ""
        raise ValueError(f"{name} must have {allowed} channels in dim 1, got shape {tuple(images.shape)}{hint}")
    if images.dtype.is_floating_point and images.numel():
        finite = torch.isfinite(images)
        if not bool(finite.all()):
            bad = int((~finite).sum())
            raise ValueError(f"{name} holds {bad} NaN or Inf pixel values")
        lo, hi = float(images.min()), float(images.max())
        if lo < 0.0 or hi > 1.0:
            raise ValueError(
                f"float {name} must lie in 0..1, got values in [{lo:.4g}, {hi:.4g}]"
                " (already normalised with mean/std? pass un-normalised images and give mean/std instead;"
                " float 0..255? divide by 255 or pass uint8)"
            )
    return images


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    """8-bit pixels of a checked batch: uint8 unchanged, float 0..1 rounded to the nearest integer."""
    if images.dtype == torch.uint8:
        return images
    return torch.round(images.float() * 255.0).clamp_(0, 255).to(torch.uint8)


def to_unit(images: torch.Tensor) -> torch.Tensor:
    """float32 pixels in 0..1 of a checked batch (uint8 divided by 255)."""
    if images.dtype == torch.uint8:
        return images.float() / 255.0
    return images.float()


def from_uint8_like(pixels: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """Denoised 8-bit pixels back in the caller's convention: uint8 stays, float becomes 0..1."""
    if like.dtype == torch.uint8:
        return pixels
    return (pixels.float() / 255.0).to(like.dtype)


def available_memory(device: torch.device) -> int | None:
    """Bytes the device can still allocate (CUDA: free plus cached; CPU: MemAvailable), None when unknown."""
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return int(free + torch.cuda.memory_reserved(device) - torch.cuda.memory_allocated(device))
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def check_batch_memory(shape, num_variants: int, itemsize: int, device: torch.device) -> None:
    """Refuse a batch whose estimated memory exceeds what `device` has free, before it is denoised."""
    b, _, h, w = shape
    need = num_variants * b * h * w * (3 * itemsize + ACTIVATION_BYTES_PER_PIXEL)
    have = available_memory(device)
    if have is not None and need > have:
        raise MemoryError(
            f"a batch of {b} images of {h} x {w} pixels with {num_variants} variants needs about {need / 2**30:.1f}"
            f" GiB on {device} (model input and first activations), {have / 2**30:.1f} GiB are free; give a smaller"
            " batch_size (CLI --batch-size) or scale the images down with resize/crop (CLI --resize/--crop)")


def check_pixel_stats(images: torch.Tensor, mean3, std3) -> str | None:
    """A warning when the batch's pixels, normalised with mean/std, are far from mean 0 and std 1."""
    x = images.float() / (255.0 if images.dtype == torch.uint8 else 1.0)
    m = x.mean((0, 2, 3)).cpu()
    s = x.std((0, 2, 3)).cpu() if x[:, 0].numel() > 1 else torch.tensor(std3)
    z_mean = (m - torch.tensor(mean3)) / torch.tensor(std3)
    z_std = s / torch.tensor(std3)
    if bool((z_mean.abs() > WARN_MEAN).any() | (z_std < WARN_STD[0]).any() | (z_std > WARN_STD[1]).any()):
        return (f"the first batch's pixels, normalised with mean={tuple(mean3)} std={tuple(std3)}, have per-channel"
                f" mean {[round(v, 3) for v in z_mean.tolist()]} and std {[round(v, 3) for v in z_std.tolist()]}"
                " (a model trained on normalised inputs sees about 0 and 1): are mean/std the model's, in 0..1 units?")
    return None
