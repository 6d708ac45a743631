"""Per label class: split the samples into two groups and say which one looks poisoned.

With features, the samples of one class are described by their top principal components in
units of natural within-class variation (`whiten.class_axes`, scaled together by the spread of
the first, so their relative variances are kept), plus, when `profile_weight` > 0, their
stability profile standardised within the class. A diagonal two-Gaussian mixture splits them
(`mixture.split_two`). The suspect group is the one whose own variation departs further from the
variation every other class shows: on the directions the other classes vary along most (pose,
brightness, sub-type), the genuine members of a class vary as the members of any class do, while
a poison group does not - a trigger collapses that variation, or dirty-label poison brings the
spread of several source classes. The departure is the Kullback-Leibler divergence of the group's
Gaussian (its weighted covariance on those directions, in units of the other classes' variation)
from the other classes' (the identity there). When the two groups depart within cues.TIE of each
other, the suspect is the group whose centroid lies further from the nearest other class (poison
is a concept of its own, the trigger). This holds whichever group is larger (clean-label
poison can be most of its class) and whichever way the poison's stability goes. With a trusted
clean reference (samples of the class known to be genuine, on the same axes), the reference names
the genuine group instead, where it is decisive: the likelihood ratio of the reference rows
under one group's Gaussian against the other's is at least 1 / alpha (under the group they were
drawn from, that ratio has expectation 1, so it reaches 1 / alpha with probability at most alpha:
Markov's inequality, for any number of rows); otherwise the rule above decides. Without
features, the split runs on the stability profile alone and the suspect group is the one whose
median profile lies further from the typical sample of the whole data set (either direction: more
susceptible or more stable).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .cues import vote
from .mixture import reference_evidence, separation, split_two
from .whiten import Whitened


@dataclass
class ClassSplit:
    """The split of one class: posterior [n] of the suspect group, the mixture gain (per sample,
    over one Gaussian) and its standard error, the suspect group's size, the medians of the
    global stability profile in the suspect group, the log distance between the two groups with
    its standard error (`mixture.separation`; NaN where a group is too small to place), and, with
    a trusted reference, the log likelihood ratio of its rows under the other group against the
    suspect group (NaN without one) and whether it decided the suspect; with features, each
    group's departure and its centroid's distance to the nearest other class's (the suspect's
    first; NaN without features), the cues `detector` weighs in a grown class; named_by: the rule that
    named the suspect group ("departure", "centroid" when the departures tie, "reference",
    "profile" without features; the detector may rename it "sources", "size", "shared-trigger", or
    in a grown class the cues that agreed, as "centroid+spread": `cues.majority`)."""

    posterior: np.ndarray
    gain: float
    gain_se: float
    size: int
    suspect_profile: np.ndarray
    separation: float = float("nan")
    separation_se: float = float("nan")
    reference_evidence: float = float("nan")
    by_reference: bool = False
    named_by: str = ""
    departures: tuple[float, float] = (math.nan, math.nan)  # the suspect group's departure, the rest's
    distances: tuple[float, float] = (math.nan, math.nan)  # their centroids' distances to the nearest other class


def flipped(split: ClassSplit, profile: np.ndarray, named_by: str) -> ClassSplit:
    """The same split with the other group as the suspect, named by the rule `named_by`; profile:
    the class's stability profile."""
    posterior = 1.0 - split.posterior
    group = posterior > 0.5
    return ClassSplit(posterior, split.gain, split.gain_se, int(group.sum()), np.median(profile[group], 0),
                      split.separation, split.separation_se, -split.reference_evidence, split.by_reference, named_by,
                      split.departures[::-1], split.distances[::-1])


def min_class_size(components: int) -> int:
    """The fewest samples a class needs to be split."""
    return max(2 * (components + 4), 16)


def departure(natural: np.ndarray, weight: np.ndarray) -> float:
    """KL divergence of N(mean, cov) of the weighted rows of natural [n, m] from N(0, I)'s spread
    (the mean is not counted: only how the group varies)."""
    w = weight / max(weight.sum(), 1e-12)
    centred = natural - w @ natural
    cov = (centred * w[:, None]).T @ centred + 1e-6 * np.eye(natural.shape[1])
    return 0.5 * float(np.trace(cov) - natural.shape[1] - np.linalg.slogdet(cov)[1])


def _distances(features: np.ndarray, others: np.ndarray, posterior: np.ndarray) -> tuple[float, float]:
    """(the distance of the posterior's group's centroid to the nearest other class's centroid, the
    same for the rest of the class)."""
    inside = posterior @ features / posterior.sum()
    outside = (1.0 - posterior) @ features / (1.0 - posterior).sum()
    return float(np.linalg.norm(others - inside, axis=1).min()), float(np.linalg.norm(others - outside, axis=1).min())


def split_class(whitened: Whitened | None, profile: np.ndarray, *, features: np.ndarray | None = None,
                others: np.ndarray | None = None, profile_weight: float = 0.0, reference: np.ndarray | None = None,
                alpha: float = 0.05) -> ClassSplit:
    """Split one class. whitened: the class in the other classes' units (`whiten.class_axes`), or
    None without features; profile [n, P]: the global robust-z stability profile of its samples;
    features [n, d] and others [K - 1, d]: its reduced features and the other classes' centroids,
    for the tie-break (both needed with whitened); reference [m, r]: trusted genuine samples of the
    class on the same axes as whitened.axes (`Whitened.to_axes`), m may be 0; alpha: the most
    chance that the reference names the wrong group when it decides."""
    parts = []
    scale = 0.0
    if whitened is not None:
        axes = whitened.axes
        scale = axes[:, 0].std() if axes.size else 0.0
        parts.append(axes / scale if scale > 0 else axes)
    if whitened is None or profile_weight > 0:
        std = profile.std(0)
        weight = 1.0 if whitened is None else profile_weight
        parts.append(weight * (profile - profile.mean(0)) / np.where(std > 0, std, 1.0))
    y = np.concatenate(parts, axis=1)
    posterior, gain, gain_se = split_two(y)
    group = posterior > 0.5
    if group.all() or not group.any():
        return ClassSplit(np.zeros(len(profile)), 0.0, 0.0, 0, np.median(profile, 0))
    evidence, by_reference = math.nan, False
    departures = distances = (math.nan, math.nan)
    if whitened is not None and reference is not None and len(reference):
        width = whitened.axes.shape[1]
        ref = reference / scale if scale > 0 else reference
        evidence, by_reference = reference_evidence(y[:, :width], posterior, ref, alpha)  # > 0: looks like this group
    if whitened is not None:
        departures = (departure(whitened.natural, posterior), departure(whitened.natural, 1.0 - posterior))
        distances = _distances(features, others, posterior)
    if by_reference:
        flip, named_by = evidence > 0, "reference"
    elif whitened is not None:
        inside_more = vote(*departures, None)  # None: the departures tie (within cues.TIE of each other)
        if inside_more is not None:
            flip, named_by = not inside_more, "departure"
        else:
            flip, named_by = distances[0] < distances[1], "centroid"
    else:
        flip = np.linalg.norm(np.median(profile[~group], 0)) > np.linalg.norm(np.median(profile[group], 0))
        named_by = "profile"
    if flip:
        posterior, group = 1.0 - posterior, ~group
        evidence, departures, distances = -evidence, departures[::-1], distances[::-1]
    return ClassSplit(posterior, gain, gain_se, int(group.sum()), np.median(profile[group], 0),
                      *separation(y, posterior), -evidence, by_reference, named_by, departures, distances)
