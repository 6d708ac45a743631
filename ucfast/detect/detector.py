"""`detect(scores)`: a two-sided, per-class poison detector built on what the scoring pass computes.

    per-variant distances + penultimate features (same forward) --> stability profile  (profile.py)
    per label class: two-group mixture on features + profile   --> gain, separation, suspect group
                     (the group further from every other class)      (subgroups.py)
    strength = gain x separation, over the median class's       --> class gate
    value of a sample = gate(class) x posterior(suspect group)  in [0, 1]

The class statistic is the product of two things a poisoned class has and a clean class split
into its natural sub-types has less of: how much better two groups explain the class than one
(the mixture gain, per sample) and how far apart the two groups' feature centroids lie, in units
of the median distance between class centroids (a poison group is a different concept from the
class it is labelled as; a natural sub-type is the same concept). Each is compared to the median
class as a ratio, not a robust z: with ten classes a median absolute deviation is too noisy to
set a threshold on (on Fashion-MNIST one easy sub-type of trousers reached robust z 4.3 of the
gain alone, while a poisoned class reached 1.7).

It catches poison that is the MOST susceptible (a trigger that denoising removes: BadNets) and
poison that is the LEAST susceptible (a trigger that survives denoising and saturates the softmax:
blended noise, low-frequency waves), because the suspect group is picked by how far its profile
lies from the typical sample in either direction, not by a sign. It assumes the poison sits in
few label classes (the attack's target) and that clean classes are not themselves split in two as
sharply and as far apart as a poisoned one; it never sees the poison mask.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ..scores import Scores
from .profile import stability_profile
from .subgroups import min_class_size, split_class

GATE_RATIO = 3.0  # a class whose strength (gain x separation) is this many times the median class's is flagged
GATE_SHARPNESS = 4.0  # gate = 1 / (1 + (GATE_RATIO / ratio) ** GATE_SHARPNESS): 1/2 at the threshold, ~0.16 at 2/3 of it


@dataclass
class Detection:
    """Per-sample values (higher = more likely poisoned, in [0, 1]) aligned with scores.index,
    the posterior of each sample's suspect group, and one row per label class."""

    values: np.ndarray  # [N] float64
    posterior: np.ndarray  # [N] float64
    classes: list[dict] = field(default_factory=list)
    profile_names: list[str] = field(default_factory=list)
    settings: dict = field(default_factory=dict)

    @property
    def flagged(self) -> list[int]:
        return [row["class"] for row in self.classes if row["flagged"]]


def _check(scores, components, profile_weight, gate_ratio):
    if not isinstance(scores, Scores):
        raise TypeError(f"scores must be ucfast.Scores (from ucfast.score), got {type(scores).__name__}")
    if isinstance(components, bool) or not isinstance(components, int) or components < 1:
        raise ValueError(f"components must be a positive integer (principal components per class), got {components!r}")
    if isinstance(profile_weight, bool) or not isinstance(profile_weight, (int, float)) or not math.isfinite(
            profile_weight) or profile_weight < 0:
        raise ValueError(f"profile_weight must be a finite number >= 0, got {profile_weight!r}")
    if isinstance(gate_ratio, bool) or not isinstance(gate_ratio, (int, float)) or not math.isfinite(
            gate_ratio) or gate_ratio <= 1:
        raise ValueError(f"gate_ratio must be a finite number > 1 (times the median class), got {gate_ratio!r}")
    if len(scores) == 0:
        raise ValueError("scores hold no samples")
    if scores.features is not None and (scores.features.ndim != 2 or len(scores.features) != len(scores)):
        raise ValueError(f"scores.features must be [N, D] with N = {len(scores)}, got shape {scores.features.shape}")
    for name, value in (("total", scores.total), *((f"component {k}", v) for k, v in scores.components.items())):
        if not np.isfinite(value).all():
            raise ValueError(f"scores.{name} holds non-finite values; re-score the data")
    classes = np.unique(scores.label)
    if classes.size < 3:
        raise ValueError(f"the detector compares label classes and needs at least 3, the scores hold"
                         f" {classes.size} ({classes.tolist()}); use method='ultraclean' with a ratio")
    return classes


def detect(scores: Scores, *, components: int = 8, profile_weight: float = 0.5,
           gate_ratio: float = GATE_RATIO) -> Detection:
    """Score every sample of `scores` for being poisoned, in both directions (see the module doc).

    components: principal components of the penultimate features used per class; profile_weight:
    weight of the stability profile against them; gate_ratio: a class's strength over the median
    class's at which its gate reaches 1/2 and it is flagged. Works without features (scores from
    `ucfast.score(...)` without features=True) on the per-variant distances alone, the strength
    then being the gain alone, less sharply.
    """
    classes = _check(scores, components, profile_weight, gate_ratio)
    profile, names = stability_profile(scores)
    feats = None if scores.features is None else scores.features.astype(np.float64)
    n = len(scores)
    posterior = np.zeros(n)
    gains = np.zeros(classes.size)
    offsets = np.zeros(classes.size)
    splits = {}
    small = min_class_size(components)
    centroids = None if feats is None else np.stack([feats[scores.label == c].mean(0) for c in classes])  # [K, D]
    for k, c in enumerate(classes):
        rows = np.flatnonzero(scores.label == c)
        if rows.size < small:
            continue
        split = split_class(None if feats is None else feats[rows], profile[rows],
                            others=None if feats is None else np.delete(centroids, k, axis=0),
                            components=components, profile_weight=profile_weight)
        posterior[rows] = split.posterior
        gains[k], offsets[k] = split.gain, split.offset
        splits[int(c)] = split
    if feats is None:
        separation = np.ones(classes.size)
    else:
        between = np.linalg.norm(centroids[:, None] - centroids[None], axis=-1)[np.triu_indices(classes.size, 1)]
        separation = offsets / max(float(np.median(between)), 1e-12)
    strength = np.maximum(gains, 0.0) * separation
    med = float(np.median(strength))
    ratio = strength / med if med > 0 else np.zeros(classes.size)
    gate = ratio ** GATE_SHARPNESS / (ratio ** GATE_SHARPNESS + gate_ratio ** GATE_SHARPNESS)
    values = np.zeros(n)
    rows_out = []
    distance_columns = [i for i, name in enumerate(names) if name != "feature_norm"]
    for k, c in enumerate(classes):
        rows = scores.label == c
        values[rows] = gate[k] * posterior[rows]
        split = splits.get(int(c))
        row = {"class": int(c), "samples": int(rows.sum()), "gain": float(gains[k]),
               "separation": float(separation[k]), "ratio": float(ratio[k]), "gate": float(gate[k]),
               "flagged": bool(ratio[k] >= gate_ratio), "split": split is not None}
        if split is not None:
            shift = float(np.mean(split.suspect_profile[distance_columns]))
            row.update({"suspect": split.size, "direction": "stable" if shift < 0 else "susceptible",
                        "suspect_profile": dict(zip(names, np.round(split.suspect_profile, 3).tolist()))})
        rows_out.append(row)
    return Detection(values=values, posterior=posterior, classes=rows_out, profile_names=names,
                     settings={"components": components, "profile_weight": profile_weight, "gate_ratio": gate_ratio,
                               "features": scores.features is not None, "min_class_size": small})
