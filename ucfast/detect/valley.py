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

import math

import numpy as np


WIDTHS = (0.5, 0.75, 1.0, 1.25, 1.5)  # interval lengths tried, in thirds of the distance between the groups' medians
CENTRES = 9  # valley positions tried between the groups
LEAST = 8  # fewest samples per half to lay intervals out on


def _tail(k: np.ndarray, n: np.ndarray) -> np.ndarray:
    """P(Binomial(n, 1/2) >= k), elementwise over integer arrays k, n of one shape (1 where k <= 0,
    0 where k > n), summed in log space."""
    k, n = np.asarray(k, dtype=np.int64), np.asarray(n, dtype=np.int64)
    log_factorial = np.concatenate([[0.0], np.cumsum(np.log(np.arange(1, int(n.max(initial=0)) + 1)))])
    out = np.ones(k.shape)
    for at in np.ndindex(k.shape):
        least, total = int(k[at]), int(n[at])
        if least > total:
            out[at] = 0.0
        elif least > 0:
            i = np.arange(least, total + 1)
            terms = log_factorial[total] - log_factorial[i] - log_factorial[total - i] - total * math.log(2.0)
            top = terms.max()
            out[at] = min(1.0, math.exp(top + math.log(np.exp(terms - top).sum())))
    return out


def _p(z: np.ndarray, layouts: np.ndarray) -> np.ndarray:
    """The valley p-value of the samples z for each layout row (outer centre, valley centre, outer
    centre, half length) of layouts [L, 4]."""
    ordered = np.sort(z)
    half = layouts[:, 3]
    outer, valley, other = (np.searchsorted(ordered, layouts[:, j] + half, side="right")
                            - np.searchsorted(ordered, layouts[:, j] - half, side="left") for j in range(3))
    return np.maximum(_tail(outer, outer + valley), _tail(other, other + valley))


def split_medians(z: np.ndarray) -> tuple[float, float] | None:
    """Medians of the two groups of the best threshold split of z (1-D 2-means: the cut that
    leaves the least squared deviation from the two groups' means), low group first."""
    ordered = np.sort(z)
    n = ordered.size
    sums, squares = np.cumsum(ordered), np.cumsum(ordered ** 2)
    left = np.arange(1, n)  # samples in the low group
    low = squares[:-1] - sums[:-1] ** 2 / left
    high = (squares[-1] - squares[:-1]) - (sums[-1] - sums[:-1]) ** 2 / (n - left)
    cut = int(np.argmin(low + high)) + 1
    if ordered[cut - 1] == ordered[cut]:
        return None
    return float(np.median(ordered[:cut])), float(np.median(ordered[cut:]))


def _layout(z: np.ndarray) -> tuple[float, np.ndarray | None]:
    """(p-value on z itself, layout [4]) of the deepest valley between z's two groups."""
    groups = split_medians(z) if z.size >= LEAST and z.std() > 0 else None
    if groups is None:
        return 1.0, None
    a, b = groups
    layouts = []
    for width in WIDTHS:
        half = width * (b - a) / 6
        low, high = a + 2 * half, b - 2 * half  # valley centres that keep it clear of both outer intervals
        for centre in np.linspace(low, high, CENTRES) if high > low else [(a + b) / 2]:
            layouts.append((a, centre, b, half))
    layouts = np.array(layouts)
    p = _p(z, layouts)
    best = int(np.argmin(p))
    return float(p[best]), layouts[best]


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
        results.append((1.0 if layout is None else float(_p(lines[line][counted], layout[None])[0]), line))
    p, line = min(results, key=lambda r: r[0])
    return min(1.0, 2.0 * p), line
