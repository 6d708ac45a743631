"""Reference non-local means: `cv2.fastNlMeansDenoisingColored` on uint8 images, bit for bit.

shared/SPEC-denoisers.md sections 2 and 3, checked against OpenCV 5.0's photo module
(fast_nlmeans_denoising_invoker.hpp and its _commons.hpp, `DistSquared`, int accumulators):

- `nlm` converts with `lbgr_to_lab`, denoises L (one channel, h) and ab (two channels, h_color)
  with `nlm_plane`, and converts back with `lab_to_lbgr`.
- `nlm_plane` is `cv2.fastNlMeansDenoising(plane, None, h, template, search)`: the plane is extended
  by template//2 + search//2 with BORDER_REFLECT_101; for every pixel and each of the search x search
  candidates, D = sum over the template x template patch and the channels of (a - b)^2, the weight
  is `table[D >> shift]`, and out = (sum w * candidate + wsum // 2) // wsum.

Every sum is an exact integer, so the order is free: here, one search offset at a time for the
whole batch, a squared-difference plane and a separable box sum of shifted slices (int32).
"""
from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import torch

from ..ops.denoisers import INT_MAX, NLM, check_nlm_args
from .borders import reflect101_index
from .lab import lab_to_lbgr, lbgr_to_lab

WEIGHT_THRESHOLD = 0.001


@lru_cache(maxsize=64)
def nlm_weights(h: float, cn: int, template: int = 7, search: int = 13) -> tuple[torch.Tensor, int, int]:
    """OpenCV's weight table for a plane of `cn` channels: (table [K] int32, shift, fixed_point_mult).

    fixed_point_mult = INT_MAX // (search^2 * 255), so search^2 * 255 * mult fits an int.
    shift = log2 of the smallest power of two >= template^2; the table is indexed by D >> shift
    ("almost" the patch mean, without a division), so entry k stands for d = k * 2^shift / template^2.
    w[k] = cvRound(mult * exp(-d / (h*h*cn))) in double, zeroed below 0.001 * mult; w[0] = mult.
    h*h*cn is a float32 product, as OpenCV's `float h` makes it (it can overflow to inf or underflow
    to 0, where OpenCV takes exp(-0/0) as 1); exp is the C library's (math.exp).
    """
    mult = INT_MAX // (search * search * 255)
    template_sq = template * template
    shift = max(template_sq - 1, 0).bit_length()  # smallest p with 2^p >= template^2
    d_per_step = float(1 << shift) / template_sq
    length = int(255 * 255 * cn / d_per_step + 1)
    with np.errstate(over="ignore", under="ignore"):
        h32 = np.float32(h)
        denominator = float(h32 * h32 * np.float32(cn))
    if denominator == 0.0:
        return torch.tensor([mult] + [0] * (length - 1), dtype=torch.int32), shift, mult
    table = []
    for k in range(length):
        w = round(mult * math.exp(-(k * d_per_step) / denominator))  # cvRound: half to even
        table.append(0 if w < WEIGHT_THRESHOLD * mult else w)
    return torch.tensor(table, dtype=torch.int32), shift, mult


def _extend(x: torch.Tensor, border: int) -> torch.Tensor:
    """BORDER_REFLECT_101 extension of the last two dims by `border` on every side (copyMakeBorder)."""
    rows = reflect101_index(x.shape[-2], border, border, x.device)
    cols = reflect101_index(x.shape[-1], border, border, x.device)
    return x.index_select(-2, rows).index_select(-1, cols)


def _box_sum(x: torch.Tensor, k: int, dim: int) -> torch.Tensor:
    """Sums of k consecutive elements along `dim` (length shrinks by k - 1), exact in x's integer dtype."""
    n = x.shape[dim] - k + 1
    out = x.narrow(dim, 0, n).clone()
    for i in range(1, k):
        out += x.narrow(dim, i, n)
    return out


def nlm_plane(plane: torch.Tensor, h: float, template: int = 7, search: int = 13) -> torch.Tensor:
    """`cv2.fastNlMeansDenoising(plane, None, h, template, search)` per image. [N, cn, H, W] uint8 -> same.

    cn is 1 to 4 (the coloured function uses 1 for L and 2 for ab); one weight per candidate is shared
    by the plane's channels.
    """
    if plane.dtype != torch.uint8 or plane.dim() != 4 or not 1 <= plane.shape[1] <= 4:
        raise ValueError(f"plane must be an [N, cn, H, W] uint8 tensor with cn in 1..4, "
                         f"got {plane.dtype} of shape {tuple(plane.shape)}")
    check_nlm_args(h, h, template, search)
    n, cn, height, width = plane.shape
    if plane.numel() == 0:
        return torch.empty_like(plane, memory_format=torch.contiguous_format)
    table, shift, _ = nlm_weights(float(h), cn, template, search)
    table = table.to(plane.device)
    t2, s2 = template // 2, search // 2
    border = t2 + s2
    ext = _extend(plane.contiguous(), border).to(torch.int32)  # [N, cn, H+2b, W+2b]
    ph, pw = height + 2 * t2, width + 2 * t2  # every pixel's patch, for the whole plane
    ref = ext[:, :, s2:s2 + ph, s2:s2 + pw]  # [N, cn, ph, pw]
    est = torch.zeros(n, cn, height, width, dtype=torch.int32, device=plane.device)
    wsum = torch.zeros(n, 1, height, width, dtype=torch.int32, device=plane.device)
    for dy in range(-s2, s2 + 1):
        for dx in range(-s2, s2 + 1):
            cand = ext[:, :, s2 + dy:s2 + dy + ph, s2 + dx:s2 + dx + pw]  # [N, cn, ph, pw]
            sq = (ref - cand).square_().sum(1, keepdim=True, dtype=torch.int32)  # [N, 1, ph, pw]
            dist = _box_sum(_box_sum(sq, template, 2), template, 3)  # [N, 1, H, W]
            w = table[(dist >> shift).long()]  # [N, 1, H, W]
            est += w * ext[:, :, border + dy:border + dy + height, border + dx:border + dx + width]
            wsum += w
    # est <= search^2 * 255 * mult fits an int32; OpenCV adds wsum // 2 in unsigned arithmetic.
    out = (est.to(torch.int64) + wsum // 2) // wsum
    return out.clamp_(0, 255).to(torch.uint8)


def nlm(pixels: torch.Tensor, h: float = NLM.h, h_color: float = NLM.h_color, template: int = NLM.template,
        search: int = NLM.search) -> torch.Tensor:
    """`cv2.fastNlMeansDenoisingColored(img, None, h, h_color, template, search)`. [N, 3, H, W] uint8 -> same."""
    check_nlm_args(h, h_color, template, search)
    if pixels.dtype != torch.uint8 or pixels.dim() != 4 or pixels.shape[1] != 3:
        raise ValueError(f"pixels must be an [N, 3, H, W] uint8 tensor, "
                         f"got {pixels.dtype} of shape {tuple(pixels.shape)}")
    pixels = pixels.contiguous()
    if pixels.numel() == 0:
        return pixels.clone()
    lab = lbgr_to_lab(pixels)  # [N, 3, H, W]: L, a, b
    light = nlm_plane(lab[:, :1], h, template, search)  # [N, 1, H, W]
    ab = nlm_plane(lab[:, 1:], h_color, template, search)  # [N, 2, H, W]
    return lab_to_lbgr(torch.cat([light, ab], 1))
