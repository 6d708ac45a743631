"""How many other classes a group's samples lie nearest to: dirty-label poison drawn from many
classes keeps their content.

A dirty-label attack relabels samples of other classes as its target. The trigger makes the model
answer the target, but the penultimate features still carry much of the content of the class each
sample was taken from, so the members of a poison group drawn from many classes lie nearest to many
different other classes, while a class's genuine members lie nearest to the one or two classes they
resemble (sandals to sneakers, shirts to T-shirts). The spread is the entropy of the labels of the
nearest other class (by centroid) over the group's members, bias-corrected (Miller-Madow) so that
groups of different sizes compare. Its null is the same entropy over each other class's own members:
a group is drawn from many classes when its entropy's robust z against theirs (median, trimmed
spread, floored at the entropy's own standard error) reaches a critical value (the detector takes
one class's at alpha / 2 for each of a split's two groups). It tells nothing about poison whose
members lie nearest to as few classes as a genuine class's do: from one source (TaCT) or from the
target itself (clean-label), or a trigger that pulls its group away from every class (BadNets
often keeps the sources' content, and is then named by this test too). Where a class without a
look-alike has genuine members that lie nearest to many classes by chance, it errs, at about the
rate its level allows.
"""
from __future__ import annotations

import math

import numpy as np

from .calibrate import trimmed_spread
from .whiten import CHUNK, nearest_other_centroid


def nearest_other(x: np.ndarray, rows: dict, classes, centroids: np.ndarray) -> dict:
    """{class: [n] position (in `classes` order) of the nearest other class's centroid to each of
    its rows}. x: reduced features [N, d]; rows: `whiten.class_rows`; centroids [K, d] float64."""
    out = {}
    for k, c in enumerate(classes):
        r = rows[c]
        out[c] = np.concatenate([nearest_other_centroid(x[r[start:start + CHUNK]], centroids, k)[0]
                                 for start in range(0, r.size, CHUNK)] or [np.zeros(0, dtype=np.int64)])
    return out


def entropy(labels: np.ndarray, k: int) -> tuple[float, float]:
    """(Miller-Madow entropy in nats of the integer labels [n] in 0..k-1, its standard error)."""
    n = labels.size
    if n == 0:
        return 0.0, 0.0
    share = np.bincount(labels, minlength=k) / n
    share = share[share > 0]
    logs = np.log(share)
    plug_in = float(-(share * logs).sum())
    variance = max(float((share * logs ** 2).sum()) - plug_in ** 2, 0.0)
    return plug_in + (share.size - 1) / (2.0 * n), math.sqrt(variance / n)


def class_entropies(nearest: dict, classes) -> np.ndarray:
    """[K] each class's entropy of its own members' nearest other classes (`nearest_other`)."""
    return np.array([entropy(nearest[c], len(classes))[0] for c in classes])


def many_sources(groups: tuple[tuple[float, float], tuple[float, float]], null: np.ndarray,
                 limit: float) -> bool | None:
    """Which of one class's two groups is drawn from many classes: True for the first alone, False
    for the second alone, None when neither or both are. groups: each group's (entropy, standard
    error) of its rows' nearest other classes (`entropy`); null: the other classes' entropies
    (`class_entropies` without this class); limit: one class's critical z."""
    middle, spread = float(np.median(null)), float(trimmed_spread(null))
    inside, outside = ((value - middle) / max(spread, se, 1e-12) >= limit for value, se in groups)
    return None if inside == outside else inside
