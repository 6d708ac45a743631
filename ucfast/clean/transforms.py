"""Training-time augmentation of one sample, drawn from (seed, epoch, dataset position) alone.

Because each sample's crop and flip depend only on those three numbers, the augmented batches are
the same whatever the number of DataLoader workers or ranks, and a resumed epoch redraws exactly
what the interrupted one drew.

    crop-flip           4-pixel zero padding, random crop back to H x W, random horizontal flip
                        (what `ucfast.train.augment` does to a batch, for one image): for 32 x 32 data
    resized-crop-flip   random area (8% to 100%) and aspect ratio (3/4 to 4/3) crop resized to
                        size x size (antialiased bilinear), random horizontal flip: for large images
    none                the image as read
"""
from __future__ import annotations

import math

import numpy as np
import torch

PAD = 4
SCALE = (0.08, 1.0)
RATIO = (3.0 / 4.0, 4.0 / 3.0)


def sample_generator(seed: int, epoch: int, index: int) -> np.random.Generator:
    return np.random.default_rng([seed, epoch, index])


def crop_flip(image: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
    """uint8 [3, H, W] -> uint8 [3, H, W]: padded random crop and random flip."""
    h, w = image.shape[1:]
    oy, ox = (int(v) for v in rng.integers(0, 2 * PAD + 1, 2))
    out = torch.nn.functional.pad(image, (PAD, PAD, PAD, PAD))[:, oy:oy + h, ox:ox + w]  # [3, H, W]
    return out.flip(2).contiguous() if rng.uniform() < 0.5 else out.contiguous()


def crop_box(h: int, w: int, rng: np.random.Generator) -> tuple[int, int, int, int]:
    """(top, left, height, width) of a random-resized crop (torchvision's rule: ten tries, then the
    centre crop of the nearest allowed aspect ratio)."""
    area = h * w
    log_ratio = (math.log(RATIO[0]), math.log(RATIO[1]))
    for _ in range(10):
        target = area * rng.uniform(*SCALE)
        aspect = math.exp(rng.uniform(*log_ratio))
        cw, ch = int(round(math.sqrt(target * aspect))), int(round(math.sqrt(target / aspect)))
        if 0 < cw <= w and 0 < ch <= h:
            return int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1)), ch, cw
    ratio = w / h
    if ratio < RATIO[0]:
        cw, ch = w, int(round(w / RATIO[0]))
    elif ratio > RATIO[1]:
        ch, cw = h, int(round(h * RATIO[1]))
    else:
        cw, ch = w, h
    return (h - ch) // 2, (w - cw) // 2, ch, cw


def resized_crop_flip(image: torch.Tensor, rng: np.random.Generator, size: int) -> torch.Tensor:
    """uint8 [3, H, W] -> uint8 [3, size, size]: random-resized crop and random flip."""
    top, left, ch, cw = crop_box(image.shape[1], image.shape[2], rng)
    patch = image[None, :, top:top + ch, left:left + cw].float()  # [1, 3, ch, cw]
    out = torch.nn.functional.interpolate(patch, size=(size, size), mode="bilinear", antialias=True,
                                          align_corners=False)[0]
    out = out.round_().clamp_(0, 255).to(torch.uint8)
    return out.flip(2) if rng.uniform() < 0.5 else out


class Augment:
    """The training transform of one sample: `Augment(kind, size, seed)(image, epoch, index)`."""

    def __init__(self, kind: str, size: int | None, seed: int):
        self.kind, self.size, self.seed = kind, size, seed

    def __call__(self, image: torch.Tensor, epoch: int, index: int) -> torch.Tensor:
        if self.kind == "none":
            return image
        rng = sample_generator(self.seed, epoch, index)
        if self.kind == "crop-flip":
            return crop_flip(image, rng)
        return resized_crop_flip(image, rng, self.size)
