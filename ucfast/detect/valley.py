"""A distribution-free test that a sample has two modes along a line: a valley between them.

For a unimodal density f and three intervals of equal length L < I < J (in that order on the line),
the middle one holds at least as much mass as the lighter of the outer two: p_I >= min(p_L, p_J)
(whichever side of I the mode lies on, f is monotone from that outer interval to I). Given the
counts in I and an outer interval, the outer count is then at most a fair coin's share of their
sum, so a binomial tail bounds how unlikely a deep valley is under ANY unimodal distribution; the
intersection of the two one-sided tests (the larger of their p-values) is a valid test of
p_I >= min(p_L, p_J). The intervals are laid out on one random half of the samples (where the
two groups lie, how wide, where the valley is deepest, which candidate line shows it best) and
counted on the other half, so choosing them does not bias the count; the halves swap roles and the
smaller p-value is doubled.
"""
from __future__ import annotations

import numpy as np
from scipy.stats import binom

from .mixture import split_two

WIDTHS = (0.5, 0.75, 1.0, 1.25, 1.5)  # interval lengths tried, in thirds of the distance between the groups' medians
CENTRES = 9  # valley positions tried between the groups
LEAST = 8  # fewest samples per half to lay intervals out on


def _tail(k: int, n: int) -> float:
    """P(Binomial(n, 1/2) >= k)."""
    return float(binom.sf(k - 1, n, 0.5)) if n > 0 else 1.0


def _p(z: np.ndarray, layout: tuple[float, float, float, float]) -> float:
    """The valley p-value of the samples z for intervals (outer centre, valley centre, outer centre, half length)."""
    *centres, half = layout
    outer, valley, other = (int(np.count_nonzero(np.abs(z - c) <= half)) for c in centres)
    return max(_tail(outer, outer + valley), _tail(other, other + valley))


def _layout(z: np.ndarray) -> tuple[float, tuple | None]:
    """(p-value on z itself, layout) of the deepest valley between z's two mixture groups."""
    spread = z.std()
    if z.size < LEAST or spread == 0:
        return 1.0, None
    group = split_two(((z - z.mean()) / spread)[:, None])[0] > 0.5
    if group.all() or not group.any():
        return 1.0, None
    a, b = sorted((float(np.median(z[group])), float(np.median(z[~group]))))
    best = (1.0, None)
    for width in WIDTHS:
        half = width * (b - a) / 6
        low, high = a + 2 * half, b - 2 * half  # valley centres that keep it clear of both outer intervals
        for centre in np.linspace(low, high, CENTRES) if high > low else [(a + b) / 2]:
            layout = (a, float(centre), b, half)
            p = _p(z, layout)
            if p < best[0]:
                best = (p, layout)
    return best


def valley_p(lines: list[np.ndarray], seed) -> tuple[float, int]:
    """(p-value that the samples are unimodal along every one of the candidate lines, the line
    that showed the valley). lines: 1-D projections [n] of the same samples, chosen without
    looking at them; seed: the halves' seeded split."""
    n = lines[0].size
    order = np.random.default_rng(seed).permutation(n)
    halves = order[: n // 2], order[n // 2:]
    results = []
    for design, counted in (halves, halves[::-1]):
        p, layout, line = min(((*_layout(z[design]), j) for j, z in enumerate(lines)), key=lambda r: r[0])
        results.append((1.0 if layout is None else _p(lines[line][counted], layout), line))
    p, line = min(results, key=lambda r: r[0])
    return min(1.0, 2.0 * p), line
