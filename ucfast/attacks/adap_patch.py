"""Adaptive-Patch (Qi et al., ICLR 2023, "Revisiting the assumption of latent separability for
backdoor defenses"), dirty-label with cover samples.

The trigger is `patches` (K = 4) distinct small patches: seeded random colour squares of
`size` x `size` pixels, one in each image corner (top-left, top-right, bottom-left, bottom-right;
the paper uses four different trigger images). Every payload and every cover sample gets its own
seeded random non-empty subset of them, blended at `alpha` = 0.5; payload samples go to the
target, cover samples keep their labels. At test time all K patches are applied at `test_alpha`
= 1 (pasted). The paper's CIFAR-10 rates are 0.003 payload and 0.003 cover; rate is kept as given
and cover_rate defaults to it.
"""
from __future__ import annotations

import numpy as np
import torch

from .base import PoisonedDataset, as_uint8_batch, check_fraction, to_uint8


class AdaptivePatch(PoisonedDataset):
    """Adaptive-Patch: payload and cover images with a random subset of K corner patches, half opaque."""

    name = "adap-patch"
    clean_label = False

    def __init__(self, dataset, *, target: int = 0, rate: float = 0.003, seed: int = 0, cover_rate: float | None = None,
                 patches: int = 4, size: int = 4, alpha: float = 0.5, test_alpha: float = 1.0, pattern_seed: int = 0):
        if isinstance(patches, bool) or not isinstance(patches, int) or not 1 <= patches <= 4:
            raise ValueError(f"patches must be an integer in 1..4 (one per image corner), got {patches!r}")
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise ValueError(f"size must be a positive integer (patch side in pixels), got {size!r}")
        if isinstance(pattern_seed, bool) or not isinstance(pattern_seed, (int, np.integer)):
            raise ValueError(f"pattern_seed must be an integer, got {pattern_seed!r}")
        self.alpha = check_fraction("alpha", alpha)
        self.test_alpha = check_fraction("test_alpha", test_alpha)
        self.patches, self.size, self.pattern_seed = patches, size, int(pattern_seed)
        rng = np.random.default_rng([self.pattern_seed, 0xADA, size])
        self.colours = torch.from_numpy(rng.integers(0, 256, (patches, 3, size, size), dtype=np.uint8))
        super().__init__(dataset, target=target, rate=rate, seed=seed,
                         cover_rate=rate if cover_rate is None else cover_rate)
        self._payload_subsets = self._draw_subsets(self.poisoned_count)
        self._cover_subsets = self._draw_subsets(self.cover_count)

    def _draw_subsets(self, count: int) -> np.ndarray:
        """bool [count, patches]: a uniform non-empty subset of the patches per sample, seeded."""
        codes = self.rng.integers(1, 2 ** self.patches, count)
        return (codes[:, None] >> np.arange(self.patches)) & 1 == 1

    def places(self, h: int, w: int) -> list[tuple[int, int]]:
        """Top-left (row, col) of each patch in h x w images."""
        s = self.size
        if h < 2 * s or w < 2 * s:
            raise ValueError(f"images of {h} x {w} are too small for {s} x {s} patches in separate corners")
        return [(0, 0), (0, w - s), (h - s, 0), (h - s, w - s)][:self.patches]

    def paste(self, images: torch.Tensor, chosen: np.ndarray, alpha: float) -> torch.Tensor:
        """uint8 [B, 3, H, W] images with the patches chosen[i] (bool [B, patches]) blended at `alpha`."""
        s = self.size
        x = images.float()
        for j, (r, c) in enumerate(self.places(images.shape[2], images.shape[3])):
            weight = alpha * torch.from_numpy(chosen[:, j]).float().view(-1, 1, 1, 1)
            region = x[:, :, r:r + s, c:c + s]
            x[:, :, r:r + s, c:c + s] = region + weight * (self.colours[j].float() - region)
        return to_uint8(x)

    def poison(self, images: torch.Tensor, ranks: torch.Tensor) -> torch.Tensor:
        return self.paste(images, self._payload_subsets[ranks.numpy()], self.alpha)

    def cover(self, images: torch.Tensor, ranks: torch.Tensor) -> torch.Tensor:
        return self.paste(images, self._cover_subsets[ranks.numpy()], self.alpha)

    def apply_trigger(self, images: torch.Tensor) -> torch.Tensor:
        batch = as_uint8_batch(images)
        out = self.paste(batch, np.ones((batch.shape[0], self.patches), dtype=bool), self.test_alpha)
        return out if images.dim() == 4 else out[0]

    def summary(self) -> dict:
        return {**super().summary(), "patches": self.patches, "size": self.size, "alpha": self.alpha,
                "test_alpha": self.test_alpha}
