"""Adaptive-Blend (Qi et al., ICLR 2023, "Revisiting the assumption of latent separability for
backdoor defenses"), dirty-label with cover samples.

The blend pattern is cut into a `grid` x `grid` grid of pieces (4 x 4 as in the paper). Every
payload and every cover sample is blended, x' = (1 - alpha) x + alpha p, on a seeded random
`pieces_ratio` share of the pieces only (its own choice per sample; alpha 0.15), so no single
full trigger is ever seen in training; payload samples go to the target, cover samples keep their
labels. At test time the whole pattern is blended at `test_alpha` = 0.2. The paper's CIFAR-10
rates are 0.003 payload and 0.003 cover; rate is kept as given and cover_rate defaults to it. The
pattern is seeded uniform noise (as Blended's default) instead of the paper's Hello Kitty
image, or an image given as `pattern` (uint8 [3, H, W] or [H, W, 3]).
"""
from __future__ import annotations

import numpy as np
import torch

from .base import PoisonedDataset, as_uint8_batch, check_fraction, to_uint8
from .blended import check_pattern, key_pattern


class AdaptiveBlend(PoisonedDataset):
    """Adaptive-Blend: payload and cover images blended on a random half of the pattern's pieces."""

    name = "adap-blend"
    clean_label = False

    def __init__(self, dataset, *, target: int = 0, rate: float = 0.003, seed: int = 0, cover_rate: float | None = None,
                 alpha: float = 0.15, test_alpha: float = 0.2, pieces_ratio: float = 0.5, grid: int = 4,
                 pattern=None, pattern_seed: int = 0):
        self.alpha = check_fraction("alpha", alpha)
        self.test_alpha = check_fraction("test_alpha", test_alpha)
        self.pieces_ratio = check_fraction("pieces_ratio", pieces_ratio)
        if isinstance(grid, bool) or not isinstance(grid, int) or grid < 1:
            raise ValueError(f"grid must be a positive integer (pieces per side), got {grid!r}")
        self.grid = grid
        self.chosen = int(round(self.pieces_ratio * grid * grid))
        if self.chosen == 0:
            raise ValueError(f"pieces_ratio={pieces_ratio} of {grid * grid} pieces chooses none; raise it")
        if isinstance(pattern_seed, bool) or not isinstance(pattern_seed, (int, np.integer)):
            raise ValueError(f"pattern_seed must be an integer, got {pattern_seed!r}")
        self.pattern_seed = int(pattern_seed)
        self._pattern = None if pattern is None else check_pattern(pattern)
        super().__init__(dataset, target=target, rate=rate, seed=seed,
                         cover_rate=rate if cover_rate is None else cover_rate)
        self._payload_pieces = self._draw_pieces(self.poisoned_count)
        self._cover_pieces = self._draw_pieces(self.cover_count)

    def _draw_pieces(self, count: int) -> np.ndarray:
        """bool [count, grid * grid]: `chosen` pieces per sample, seeded."""
        pieces = self.grid * self.grid
        order = np.argsort(self.rng.random((count, pieces)), axis=1)[:, :self.chosen]
        mask = np.zeros((count, pieces), dtype=bool)
        np.put_along_axis(mask, order, True, axis=1)
        return mask

    def pattern(self, h: int, w: int) -> torch.Tensor:
        """The blend pattern for h x w images, uint8 [3, h, w]."""
        return key_pattern(self._pattern, self.pattern_seed, h, w)

    def pieces(self, h: int, w: int) -> np.ndarray:
        """int [h, w]: the piece index (row-major in the grid) of every pixel."""
        if h < self.grid or w < self.grid:
            raise ValueError(f"images of {h} x {w} are smaller than the {self.grid} x {self.grid} piece grid")
        return (np.arange(h) * self.grid // h)[:, None] * self.grid + (np.arange(w) * self.grid // w)[None, :]

    def blend(self, images: torch.Tensor, chosen: np.ndarray, alpha: float) -> torch.Tensor:
        """uint8 [B, 3, H, W] images blended at `alpha` on the pieces chosen[i] (bool [B, grid * grid])."""
        h, w = images.shape[2:]
        where = torch.from_numpy(chosen[:, self.pieces(h, w)]).unsqueeze(1)  # [B, 1, H, W]
        x = images.float()
        return to_uint8(x + alpha * where * (self.pattern(h, w).float() - x))

    def poison(self, images: torch.Tensor, ranks: torch.Tensor) -> torch.Tensor:
        return self.blend(images, self._payload_pieces[ranks.numpy()], self.alpha)

    def cover(self, images: torch.Tensor, ranks: torch.Tensor) -> torch.Tensor:
        return self.blend(images, self._cover_pieces[ranks.numpy()], self.alpha)

    def apply_trigger(self, images: torch.Tensor) -> torch.Tensor:
        batch = as_uint8_batch(images)
        out = self.blend(batch, np.ones((batch.shape[0], self.grid * self.grid), dtype=bool), self.test_alpha)
        return out if images.dim() == 4 else out[0]

    def summary(self) -> dict:
        return {**super().summary(), "alpha": self.alpha, "test_alpha": self.test_alpha,
                "pieces_ratio": self.pieces_ratio, "grid": self.grid}
