"""Validation and conversion of un-normalised image batches.

ucfast takes images as a model's loader gives them before normalisation: uint8 in 0..255 or float
in 0..1, shaped N x 3 x H x W, or grey (N x H x W, N x 1 x H x W) which is repeated to 3 channels.
The denoisers work on 8-bit pixels; float input is rounded to the nearest integer (the authors'
code truncates; rounding is the documented ucfast behaviour).
"""
from __future__ import annotations

import numpy as np
import torch


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
    channels = images.shape[1]
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
