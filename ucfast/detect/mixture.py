"""Two-group splits of a point cloud: 2-means, then a two-component diagonal Gaussian mixture.

`split_two(Y)` returns the posterior of membership in one group for every row of Y [n, d], the
mixture's log-likelihood gain per sample over one Gaussian (how much better two groups explain
the data than one; near 0 for a unimodal cloud) and the gain's standard error (the spread of the
per-sample gains over sqrt(n)). `separation(Y, posterior)` measures how far apart the two groups
lie, whatever their shares; `log_ratio(Y, posterior, Z)` how much likelier each row of Z is under
one group than under the other. Deterministic: the 2-means starts come from the
first principal axis (median, upper and lower quartile splits) and the best is kept.
"""
from __future__ import annotations

import math

import numpy as np

VAR_FLOOR = 1e-3  # added to every variance, in the units of Y (Y is standardised by the caller)


def _two_means(y: np.ndarray, group: np.ndarray, iters: int = 50) -> np.ndarray:
    for _ in range(iters):
        if group.all() or not group.any():
            return group
        c1, c0 = y[group].mean(0), y[~group].mean(0)
        new = ((y - c1) ** 2).sum(1) < ((y - c0) ** 2).sum(1)
        if (new == group).all():
            break
        group = new
    return group


def _diag_loglik(y: np.ndarray, mu: np.ndarray, var: np.ndarray) -> np.ndarray:
    return -0.5 * ((y - mu) ** 2 / var + np.log(2 * np.pi * var)).sum(1)


def _moments(y: np.ndarray, weight: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    w = weight / max(float(weight.sum()), 1e-12)
    mu = w @ y
    return mu, w @ (y - mu) ** 2 + VAR_FLOOR


def split_two(y: np.ndarray, iters: int = 30) -> tuple[np.ndarray, float, float]:
    """(posterior [n] of the first group, gain per sample, its standard error) for y [n, d]
    float64, n >= 4."""
    centred = y - y.mean(0)
    axis = np.linalg.svd(centred, full_matrices=False)[2][0]
    p = centred @ axis
    best, best_r2 = None, -np.inf
    total = (centred ** 2).sum()
    for start in (p > np.median(p), p > np.quantile(p, 0.75), p < np.quantile(p, 0.25)):
        group = _two_means(y, start)
        if group.all() or not group.any():
            continue
        within = ((y[group] - y[group].mean(0)) ** 2).sum() + ((y[~group] - y[~group].mean(0)) ** 2).sum()
        r2 = 1.0 - within / total if total > 0 else 0.0
        if r2 > best_r2:
            best, best_r2 = group, r2
    if best is None:
        return np.zeros(len(y)), 0.0, 0.0
    r = best.astype(np.float64)
    for _ in range(iters):
        pi = float(np.clip(r.mean(), 1e-3, 1 - 1e-3))
        (mu1, v1), (mu0, v0) = _moments(y, r), _moments(y, 1 - r)
        l1 = np.log(pi) + _diag_loglik(y, mu1, v1)
        l0 = np.log(1 - pi) + _diag_loglik(y, mu0, v0)
        r = 1.0 / (1.0 + np.exp(np.clip(l0 - l1, -50, 50)))
    per_sample = np.logaddexp(l1, l0) - _diag_loglik(y, y.mean(0), y.var(0) + VAR_FLOOR)
    return r, float(per_sample.mean()), float(per_sample.std() / np.sqrt(len(y)))


def separation(y: np.ndarray, posterior: np.ndarray) -> tuple[float, float]:
    """(log Mahalanobis distance between the two groups' means in their pooled diagonal variance,
    its standard error) for y [n, d] and the posterior [n] of one group. The gain per sample
    grows with a group's share; the distance does not, so a small group far from the rest (a
    trigger in a few samples) is measured as sharply as a large one. NaN, NaN when the smaller
    group holds fewer samples than its Gaussian has parameters (2 d + 1): too few to place it."""
    w1, w0 = posterior, 1.0 - posterior
    n1, n0 = float(w1.sum()), float(w0.sum())
    if min(n1, n0) < 2 * y.shape[1] + 1:
        return math.nan, math.nan
    mu1, mu0 = w1 @ y / n1, w0 @ y / n0
    v1, v0 = w1 @ (y - mu1) ** 2 / n1 + VAR_FLOOR, w0 @ (y - mu0) ** 2 / n0 + VAR_FLOOR
    pooled = (n1 * v1 + n0 * v0) / (n1 + n0)
    gap = mu1 - mu0
    distance = math.sqrt(float((gap ** 2 / pooled).sum()))
    if distance == 0.0:
        return math.nan, math.nan
    se = math.sqrt(float(((gap / pooled) ** 2 * (v1 / n1 + v0 / n0)).sum())) / distance ** 2  # delta method
    return math.log(distance), se


def log_ratio(y: np.ndarray, posterior: np.ndarray, z: np.ndarray) -> np.ndarray:
    """[m] log density of each row of z [m, d] under the diagonal Gaussian of the posterior's group
    of y [n, d] minus that under the other group's (each the weighted mean and variance of y, as
    `split_two` fits them)."""
    mu1, v1 = _moments(y, posterior)
    mu0, v0 = _moments(y, 1.0 - posterior)
    return _diag_loglik(z, mu1, v1) - _diag_loglik(z, mu0, v0)


def reference_evidence(y: np.ndarray, posterior: np.ndarray, z: np.ndarray, alpha: float) -> tuple[float, bool]:
    """(log likelihood ratio of all trusted rows z [m, d] under the posterior's group against the
    other, whether it is decisive: at least log(1 / alpha) either way). Under the group z was drawn
    from the ratio has expectation 1, so it reaches 1 / alpha against it with probability at most
    alpha (Markov's inequality), for any m."""
    evidence = float(log_ratio(y, posterior, z).sum())
    return evidence, abs(evidence) >= math.log(1.0 / alpha)
