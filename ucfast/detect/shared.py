"""One trigger in (nearly) every class: the shared-trigger test, for when the cross-class null fails.

The class tests (calibrate.py) compare each class with the others, so poison in every class
(all-to-all: each class receives another's images with the trigger) leaves no clean class to
compare with. What such poison does have is one direction in common: in every class, the trigger's
group is displaced from the class it came from by the same trigger. So:

    per class     its own top principal axes (unwhitened), a two-group mixture on them; the offset
                  of its smaller group's mean from the nearest other class's centroid (unit vector)
    per class     the shared direction from the OTHER classes' offsets (their sum); each offset
                  taken again from the class's samples beyond a threshold split along it; from
                  those, the shared direction again (the OTHER classes'), and the same
                  direction in units of the other classes' larger groups' variation (their pooled
                  covariance; the trigger does not vary inside a genuine group)
    per class     the valley test along those two lines (valley.py): distribution-free under
                  "this class is unimodal along any line not chosen from its own samples"
    data set      Benjamini-Hochberg over the classes at `level`; the test speaks only when it
                  rejects in more than half of the classes (poison in most classes is the case the
                  class tests cannot calibrate; a few classes with natural sub-types along a shared
                  direction are left to them)
    flagged class split along the line that showed the valley; the suspect group lies toward the
                  shared direction (where the trigger puts it)

Because every class's lines come from the other classes alone (with up to EXACT_UP_TO classes
exactly: the others' offsets are taken again without it; beyond, its share of each other class's
direction, below 1/64, is let in), each class's p-value is valid; BH over classes whose p-values
are valid holds the chance of any flag on a clean data set at `level`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .calibrate import EXACT_UP_TO
from .mixture import split_two
from .valley import split_medians, valley_p
from .whiten import RIDGE


@dataclass
class SharedTrigger:
    """Per class (in `classes` order): the valley p-value (1 where the class was too small), whether
    the test flagged it, its strength (log p over log of the rejection level: >= 1 when flagged),
    and, for flagged classes, the posterior [n_c] of the group toward the shared direction."""

    p: np.ndarray
    flagged: np.ndarray
    strength: np.ndarray
    posterior: dict


def _groups(block: np.ndarray, components: int) -> np.ndarray:
    """[n] bool: the smaller group of a two-group mixture on the class's own top principal axes."""
    centred = block - block.mean(0)
    axes = np.linalg.eigh(centred.T @ centred)[1][:, ::-1][:, :components]
    y = centred @ axes
    scale = y[:, 0].std()
    group = split_two(y / scale if scale > 0 else y)[0] > 0.5
    return ~group if group.mean() > 0.5 else group


def _unit(v: np.ndarray) -> np.ndarray:
    norm = float(np.linalg.norm(v))
    return v / norm if norm > 0 else v


def _offset(block: np.ndarray, group: np.ndarray, others: np.ndarray) -> np.ndarray:
    """Unit offset of the group's mean from the nearest of the other classes' centroids [K - 1, d]."""
    mean = block[group].mean(0)
    return _unit(mean - others[np.argmin(np.linalg.norm(others - mean, axis=1))])


def _rejected(p: np.ndarray, level: float) -> tuple[np.ndarray, float]:
    """Benjamini-Hochberg at `level`: (rejected [K] bool, the p-value bound it rejected at; the
    first step's bound, level / K, when it rejected none)."""
    k = p.size
    order = np.argsort(p, kind="stable")
    bounds = level * np.arange(1, k + 1) / k
    passed = np.flatnonzero(p[order] <= bounds)
    rejected = np.zeros(k, dtype=bool)
    if not passed.size:
        return rejected, level / k
    rejected[order[: passed[-1] + 1]] = True
    return rejected, float(bounds[passed[-1]])


def shared_trigger(x: np.ndarray, rows: dict, classes: np.ndarray, centroids: np.ndarray, components: int,
                   level: float, smallest: int) -> SharedTrigger:
    """The shared-trigger test over the classes. x: reduced features [N, d]; rows: class rows;
    centroids [K, d] float64; classes smaller than `smallest` are not tested."""
    k, d = centroids.shape
    testable = [j for j, c in enumerate(classes) if rows[c].size >= smallest]

    def block(j):
        return x[rows[classes[j]]].astype(np.float64)

    offsets, smaller = np.zeros((k, d)), {}
    scatter, count = np.zeros((d, d)), 0
    for j in testable:
        b = block(j)
        smaller[j] = _groups(b, components)
        offsets[j] = _offset(b, smaller[j], np.delete(centroids, j, axis=0))
        genuine = b[~smaller[j]] - b[~smaller[j]].mean(0)
        scatter += genuine.T @ genuine
        count += genuine.shape[0]

    def lines(j, b, shared):
        """The class's two lines from the other classes' offsets `shared` [K, d]: their sum, and
        the same in units of the other classes' larger groups' pooled covariance."""
        direction = _unit(shared.sum(0) - shared[j])
        genuine = b[~smaller[j]] - b[~smaller[j]].mean(0)
        cov = (scatter - genuine.T @ genuine) / max(count - genuine.shape[0], 1)
        cov += RIDGE * max(float(np.trace(cov)) / d, 1e-12) * np.eye(d)
        return direction, _unit(np.linalg.solve(cov, direction))

    total = offsets.sum(0)

    def refined(i, without=None):
        """Class i's offset again, from its samples beyond a threshold split along the other
        classes' direction (leaving out class `without` too)."""
        b = block(i)
        z = b @ _unit(total - offsets[i] - (0.0 if without is None else offsets[without]))
        groups = split_medians(z)
        beyond = z > sum(groups) / 2 if groups is not None else np.zeros(z.size, dtype=bool)
        return _offset(b, beyond, np.delete(centroids, i, axis=0)) if 0 < beyond.sum() < beyond.size else offsets[i]

    # a class's line must not depend on its own samples: with few classes every other class is
    # refined without it; beyond EXACT_UP_TO, its share of another's direction is below 1/64
    shared = None if k <= EXACT_UP_TO else np.array([refined(i) if i in smaller else offsets[i] for i in range(k)])
    p = np.ones(k)
    chosen = {}
    for j in testable:
        others = shared if shared is not None else np.array(
            [refined(i, j) if i in smaller and i != j else offsets[i] for i in range(k)])
        b = block(j)
        candidates = lines(j, b, others)
        p[j], line = valley_p([b @ v for v in candidates], seed=[int(classes[j]), 0x5A4ED])
        chosen[j] = candidates[line]
    rejected, bound = _rejected(p, level)
    if 2 * int(rejected.sum()) <= k:
        rejected[:] = False
    strength = np.log(np.maximum(p, 1e-300)) / math.log(bound)
    posterior = {}
    for j in np.flatnonzero(rejected):
        z = block(j) @ chosen[j]
        spread = z.std()
        r = split_two(((z - z.mean()) / spread)[:, None])[0] if spread > 0 else np.zeros(z.size)
        if r.sum() > 0 and (1 - r).sum() > 0 and r @ z / r.sum() < (1 - r) @ z / (1 - r).sum():
            r = 1.0 - r
        posterior[int(j)] = r
    return SharedTrigger(p, rejected, strength, posterior)
