"""The embedded default dataset: deterministic generated RGB images, 10 classes, no files needed.

Each image is a smooth, lit background (lighting gradient plus low-frequency clutter) with either
a shape (disk, square, triangle, ring, cross, diamond) at a random place and size, or a two-tone
texture (horizontal stripes, vertical stripes, checkerboard, dots) of random period (6-10 px) and
phase. Foreground and background differ in brightness; colours are random tints of moderate
saturation (channels strongly correlated, as in photographs, so the cross-channel median and the
colour NLM change clean images about as much as they change natural ones); edges are
anti-aliased and faint Gaussian noise (std NOISE = 2 levels, about what is left in photographs
downsampled to 32 x 32) is added. The class is the shape or texture, never the colour. Every class
is its own mirror image, so horizontal-flip augmentation keeps labels right. The same
(split, n, seed) gives the same bytes.
"""
from __future__ import annotations

import numpy as np
import torch

from .arrays import ArrayDataset

CLASSES = ("disk", "square", "triangle", "ring", "cross", "diamond", "h-stripes", "v-stripes", "checker", "dots")
SPLITS = {"train": 0, "test": 1}
DEFAULT_SIZES = {"train": 6000, "test": 2000}
NOISE = 2.0  # std of the per-pixel Gaussian noise, 0..255 units
CHROMA = 40.0  # largest colour tint, 0..255 units


def _soft(v: np.ndarray) -> np.ndarray:
    """Anti-aliased inside test: v is a signed distance in pixels (> 0 inside)."""
    return np.clip(v + 0.5, 0.0, 1.0)


def _masks(labels, rng, size: int) -> np.ndarray:
    """Foreground coverage in 0..1, [N, H, W], for each sample's class."""
    n = labels.shape[0]
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)  # [H, W]
    r = rng.uniform(0.20, 0.34, n).astype(np.float32)[:, None, None] * size  # [N, 1, 1] radius in pixels
    cx = (rng.uniform(0, 1, n).astype(np.float32)[:, None, None] * (size - 2 * r - 2)) + r + 1
    cy = (rng.uniform(0, 1, n).astype(np.float32)[:, None, None] * (size - 2 * r - 2)) + r + 1
    period = rng.uniform(6.0, 10.0, n).astype(np.float32)[:, None, None]
    phase = rng.uniform(0, 2 * np.pi, (n, 2)).astype(np.float32)[:, :, None, None]
    dx, dy = np.abs(xx - cx), np.abs(yy - cy)
    dist = np.sqrt(dx * dx + dy * dy)
    wave_x = np.sin(2 * np.pi * xx / period + phase[:, 0])
    wave_y = np.sin(2 * np.pi * yy / period + phase[:, 1])
    sharp = period / np.pi  # turns a sine's value into roughly a distance in pixels
    out = np.empty((n, size, size), dtype=np.float32)
    for c in range(len(CLASSES)):
        m = labels == c
        if not m.any():
            continue
        rr, d, ax, ay = r[m], dist[m], dx[m], dy[m]
        if c == 0:  # disk
            v = _soft(rr - d)
        elif c == 1:  # square
            v = _soft(0.85 * rr - np.maximum(ax, ay))
        elif c == 2:  # triangle, apex up
            top, bottom = cy[m] - rr, cy[m] + 0.8 * rr
            half = rr * (yy - top) / (1.8 * rr)
            v = _soft(half - ax) * _soft(yy - top) * _soft(bottom - yy)
        elif c == 3:  # ring
            v = _soft(rr - d) * _soft(d - 0.55 * rr)
        elif c == 4:  # cross
            t = 0.3 * rr
            v = np.maximum(_soft(rr - ax) * _soft(t - ay), _soft(t - ax) * _soft(rr - ay))
        elif c == 5:  # diamond
            v = _soft(1.15 * rr - (ax + ay))
        elif c == 6:  # horizontal stripes
            v = _soft(wave_y[m] * sharp[m])
        elif c == 7:  # vertical stripes
            v = _soft(wave_x[m] * sharp[m])
        elif c == 8:  # checkerboard
            v = _soft(wave_x[m] * wave_y[m] * sharp[m])
        else:  # dots on a grid
            p = period[m] * 1.5
            gx = np.mod(xx - phase[m, 0] * p / (2 * np.pi), p) - p / 2
            gy = np.mod(yy - phase[m, 1] * p / (2 * np.pi), p) - p / 2
            v = _soft(0.3 * p - np.sqrt(gx * gx + gy * gy))
        out[m] = v
    return out


def _colours(n: int, rng: np.random.Generator, luma: np.ndarray) -> np.ndarray:
    """[N, 3, 1, 1] colours of the given luminance with a moderate random tint, as in natural
    images, whose colour channels are strongly correlated."""
    direction = rng.normal(0, 1, (n, 3)).astype(np.float32)
    direction -= direction.mean(1, keepdims=True)  # orthogonal to grey
    direction /= np.linalg.norm(direction, axis=1, keepdims=True) + 1e-6
    chroma = rng.uniform(0, CHROMA, (n, 1)).astype(np.float32)
    return (luma[:, None] + chroma * direction)[:, :, None, None]


def _render(labels: np.ndarray, rng: np.random.Generator, size: int) -> np.ndarray:
    """uint8 [N, 3, H, W] images of the given classes."""
    n = labels.shape[0]
    bg_luma = rng.uniform(35, 220, n).astype(np.float32)
    step = rng.uniform(55, 110, n).astype(np.float32)
    up = np.where(bg_luma + step <= 245, bg_luma + step, bg_luma - step)
    down = np.where(bg_luma - step >= 10, bg_luma - step, bg_luma + step)
    fg_luma = np.where(rng.uniform(0, 1, n) < 0.5, up, down)  # foreground lighter or darker
    bg, fg = _colours(n, rng, bg_luma), _colours(n, rng, fg_luma)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / (size - 1) - 0.5
    angle = rng.uniform(0, 2 * np.pi, n).astype(np.float32)[:, None, None]
    light = 1.0 + rng.uniform(0.1, 0.4, n).astype(np.float32)[:, None, None] * (
        np.cos(angle) * xx + np.sin(angle) * yy)  # [N, H, W] lighting gradient
    coarse = rng.normal(0, 14, (n, 1, 4, 4)) + rng.normal(0, 5, (n, 3, 4, 4))  # mostly luminance clutter
    clutter = torch.nn.functional.interpolate(torch.from_numpy(coarse.astype(np.float32)), size=(size, size),
                                              mode="bicubic", align_corners=False).numpy()
    mask = _masks(labels, rng, size)[:, None]  # [N, 1, H, W]
    img = (bg + clutter) * (1 - mask) + fg * mask
    img = img * light[:, None] + rng.normal(0, NOISE, img.shape).astype(np.float32)
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def synthetic(split: str = "train", n: int | None = None, *, seed: int = 0, size: int = 32,
              chunk: int = 4096) -> ArrayDataset:
    """`n` generated images of `size` x `size` (default 6000 train / 2000 test), balanced over the
    10 classes. Train and test come from different random streams of the same `seed`."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {sorted(SPLITS)} for the synthetic dataset, got {split!r}")
    n = DEFAULT_SIZES[split] if n is None else n
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    if isinstance(size, bool) or not isinstance(size, int) or size < 8:
        raise ValueError(f"size must be an integer >= 8 (pixels), got {size!r}")
    rng = np.random.default_rng([int(seed), SPLITS[split], 20240601])
    labels = rng.permutation(np.arange(n) % len(CLASSES)).astype(np.int64)
    images = np.empty((n, 3, size, size), dtype=np.uint8)
    for start in range(0, n, chunk):
        part = labels[start:start + chunk]
        images[start:start + chunk] = _render(part, np.random.default_rng([int(seed), SPLITS[split], start]), size)
    return ArrayDataset(torch.from_numpy(images), torch.from_numpy(labels), classes=CLASSES, name=f"synthetic-{split}")
