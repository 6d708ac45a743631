"""Border index maps shared by the reference filters."""
from __future__ import annotations

import torch


def symmetric_index(n: int, before: int, after: int, device=None) -> torch.Tensor:
    """Indices of an axis of length n extended by `before`/`after` with scipy's "reflect" rule.

    `d c b a | a b c d | d c b a`: index -1 reads 0 and index n reads n - 1 (numpy "symmetric"),
    repeated for extensions longer than the axis.
    """
    i = torch.arange(-before, n + after, device=device) % (2 * n)
    return torch.where(i >= n, 2 * n - 1 - i, i)


def reflect101_index(n: int, before: int, after: int, device=None) -> torch.Tensor:
    """Indices of an axis extended with OpenCV's BORDER_REFLECT_101 (`g f e d c b | a b c d e f g h`).

    An axis of length 1 repeats its only element.
    """
    if n == 1:
        return torch.zeros(before + n + after, dtype=torch.long, device=device)
    i = torch.arange(-before, n + after, device=device) % (2 * n - 2)
    return torch.where(i >= n, 2 * n - 2 - i, i)
