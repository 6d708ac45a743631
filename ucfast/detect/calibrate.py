"""Null distributions the class gate is calibrated on, computed once per process by simulation.

null_gain(n, r): the mean log(mixture gain) that `mixture.split_two` finds in n samples of ONE
    r-dimensional Gaussian (a class with no second group), by a seeded parametric bootstrap on a
    geometric grid of sizes (interpolated in log n): the floor of a class's statistic, so a small
    class that splits a unimodal cloud by chance is not read as split.
critical(K, alpha): the values of the three class tests (`strengths`: the split z; the split z
    plus the positive parts of the size z and the separation z; the size z) that the largest of K
    clean classes exceed, together, with probability alpha, when the classes' statistics, log
    sizes and separations are draws of Gaussians, location and spread estimated from those same
    K draws as the detector does. All are taken at one common tail level, the one at which any
    test flags a clean data set with probability alpha (the tests are correlated, so each is taken
    at a tail probability between alpha / 3 and alpha; the separation is drawn independently of
    the gain, which on real data it is not, so the level is if anything conservative). The
    false-alarm rate is per data set, not per class: with 1000 clean classes as with 10, a flag
    comes with probability alpha. Its fourth value is one class's size z at level alpha (how far
    a flagged class must stand out in size for its size to shape its cut).
"""
from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

from .mixture import split_two

GRID_STEP = 1.25  # ratio between bootstrap sizes
GRID_TOP = 2048  # largest simulated size; beyond it the gain of a spurious split falls as 1 / n
BOOTSTRAP = 48  # simulated classes per grid size
TRIALS = 4000  # simulated data sets per critical value


@lru_cache(maxsize=None)
def _null_at(n: int, r: int) -> float:
    rng = np.random.default_rng([n, r, 0xC411])
    return float(np.mean([math.log(max(split_two(rng.standard_normal((n, r)))[1], 1e-6)) for _ in range(BOOTSTRAP)]))


def _grid(n: int) -> tuple[int, int, float]:
    k = math.log(max(n, 16) / 16) / math.log(GRID_STEP)
    lo = math.floor(k)
    return round(16 * GRID_STEP ** lo), round(16 * GRID_STEP ** (lo + 1)), k - lo


def null_gain(n: int, r: int) -> float:
    """Mean log gain for n samples of one r-d Gaussian."""
    beyond = math.log(max(n, GRID_TOP) / GRID_TOP)
    lo, hi, w = _grid(min(n, GRID_TOP))
    return (1 - w) * _null_at(lo, r) + w * _null_at(hi, r) - beyond


TRIM = 0.8  # share of the other classes (those closest to their median) the spread is estimated on
EXACT_UP_TO = 64  # classes up to which each class is left out of its own null exactly


def trimmed_spread(x: np.ndarray) -> np.ndarray:
    """Root mean square deviation from the median over the TRIM share of entries closest to it,
    along the last axis (more efficient than the MAD with ten classes; up to 1 - TRIM of the
    entries may be poisoned classes without inflating it)."""
    dev = np.sort(np.abs(x - np.median(x, axis=-1, keepdims=True)), axis=-1)
    keep = max(2, int(math.ceil(TRIM * x.shape[-1])))
    return np.sqrt(np.mean(dev[..., :keep] ** 2, axis=-1))


def _z(x: np.ndarray, floor) -> np.ndarray:
    """Each entry's z against the OTHER entries of its row (median, trimmed spread) along the last
    axis, so a poisoned class never enters its own null; beyond EXACT_UP_TO entries, one entry's
    share of the null is below 1/64 and the null of all entries is used."""
    k = x.shape[-1]
    if k > EXACT_UP_TO:
        return (x - np.median(x, axis=-1, keepdims=True)) / np.maximum(trimmed_spread(x)[..., None], floor)
    others = np.broadcast_to(x[..., None, :], x.shape + (k,))[..., ~np.eye(k, dtype=bool)].reshape(x.shape + (k - 1,))
    return (x - np.median(others, axis=-1)) / np.maximum(trimmed_spread(others), floor)


def outlier_z(x: np.ndarray, floor) -> np.ndarray:
    """Each entry's z of x [..., K] against the other entries (median, trimmed spread, at least floor)."""
    return _z(x, floor)


def size_z(u: np.ndarray, u_floor) -> np.ndarray:
    """Each class's z of its log size u [..., K] against the other classes' (floor of the spread u_floor)."""
    return _z(u, u_floor)


def strengths(t: np.ndarray, t_floor, u: np.ndarray, u_floor, s: np.ndarray, s_floor):
    """(split z, combined z, size z, separation z) per class from the per-class statistics t
    [..., K] (floor of their spread t_floor), log sizes u [..., K] (floor u_floor) and log
    separations s [..., K] (floor s_floor): z of t against the other classes; that z plus the
    positive parts of the size z (dirty-label poison adds samples to its target) and of the
    separation z (a trigger makes a group of its own, far from the class's genuine members
    however few it holds): a class that stands out in size or in how far apart its groups lie
    needs less of a split to be flagged; the size z itself (a class grown far past the spread of
    sizes is flagged by its size); and the separation z."""
    z = _z(t, t_floor)
    size = size_z(u, u_floor)
    apart = _z(s, s_floor)
    return z, combined(z, size, apart), size, apart


def combined(split: np.ndarray, size: np.ndarray, apart: np.ndarray) -> np.ndarray:
    """The combined test: the split z plus the positive parts of the size z and the separation z."""
    return split + np.maximum(size, 0.0) + np.maximum(apart, 0.0)


TESTS = ("split", "combined", "size")  # the class tests, in the order `strengths` and `critical` give them


@lru_cache(maxsize=None)
def critical(k: int, alpha: float) -> tuple[float, float, float, float]:
    """Critical values for k clean classes: of the largest split z, combined z and size z, at the
    common tail level at which any of them flags a clean data set with probability alpha, and of
    one class's size z, exceeded with probability alpha (how far a flagged class must stand out in
    size for its size to shape its cut). Monte Carlo over Gaussian statistics, sizes and
    separations, seeded."""
    rng = np.random.default_rng([k, 0xA1FA])
    batch = max(1, min(TRIALS, 2_000_000 // (k * k if k <= EXACT_UP_TO else k)))
    tops, sizes = [[] for _ in TESTS], []
    for start in range(0, TRIALS, batch):
        m = min(batch, TRIALS - start)
        t, u, s = rng.standard_normal((3, m, k))
        z, combined, size, _ = strengths(t, 0.0, u, 0.0, s, 0.0)
        for top, test in zip(tops, (z, combined, size)):
            top.append(test.max(1))
        sizes.append(size[:, 0])
    tops = [np.concatenate(top) for top in tops]
    rank = np.max([_tail_rank(top) for top in tops], axis=0)  # the level at which a data set is flagged
    level = float(np.quantile(rank, 1 - alpha, method="inverted_cdf"))
    return (*(float(np.quantile(top, level)) for top in tops), float(np.quantile(np.concatenate(sizes), 1 - alpha)))


def _tail_rank(x: np.ndarray) -> np.ndarray:
    """Each entry's empirical CDF value within x (ties share the lowest)."""
    return np.searchsorted(np.sort(x), x, side="left") / x.size
