"""`detect(scores)`: a two-sided, per-class poison detector built on what the scoring pass computes.

    per-variant distances + penultimate features (same forward) --> stability profile  (profile.py)
    per label class: two-group mixture on features + profile   --> suspect group, gain (subgroups.py)
    gain compared across classes (robust z)                     --> class gate
    value of a sample = gate(class) x posterior(suspect group)  in [0, 1]

It catches poison that is the MOST susceptible (a trigger that denoising removes: BadNets) and
poison that is the LEAST susceptible (a trigger that survives denoising and saturates the softmax:
blended noise, low-frequency waves), because the suspect group is picked by how far its profile
lies from the typical sample in either direction, not by a sign. It assumes the poison sits in
few label classes (the attack's target) and that clean classes are not themselves split in two as
sharply as a poisoned one; it never sees the poison mask.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ..scores import Scores
from .profile import stability_profile
from .subgroups import min_class_size, split_class

GATE_Z = 3.0  # a class whose mixture gain lies this many robust spreads above the classes' median is flagged


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


def _check(scores, components, profile_weight, gate_z):
    if not isinstance(scores, Scores):
        raise TypeError(f"scores must be ucfast.Scores (from ucfast.score), got {type(scores).__name__}")
    if isinstance(components, bool) or not isinstance(components, int) or components < 1:
        raise ValueError(f"components must be a positive integer (principal components per class), got {components!r}")
    for name, value in (("profile_weight", profile_weight), ("gate_z", gate_z)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
            raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
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


def detect(scores: Scores, *, components: int = 8, profile_weight: float = 0.5, gate_z: float = GATE_Z) -> Detection:
    """Score every sample of `scores` for being poisoned, in both directions (see the module doc).

    components: principal components of the penultimate features used per class; profile_weight:
    weight of the stability profile against them; gate_z: robust z of a class's mixture gain at
    which the class gate reaches 1/2. Works without features (scores from `ucfast.score(...)`
    without features=True) on the per-variant distances alone, less sharply.
    """
    classes = _check(scores, components, profile_weight, gate_z)
    profile, names = stability_profile(scores)
    feats = None if scores.features is None else scores.features.astype(np.float64)
    n = len(scores)
    posterior = np.zeros(n)
    gains = np.zeros(classes.size)
    splits = {}
    small = min_class_size(components)
    for k, c in enumerate(classes):
        rows = np.flatnonzero(scores.label == c)
        if rows.size < small:
            continue
        split = split_class(None if feats is None else feats[rows], profile[rows], components=components,
                            profile_weight=profile_weight)
        posterior[rows] = split.posterior
        gains[k] = split.gain
        splits[int(c)] = split
    med = float(np.median(gains))
    spread = max(1.4826 * float(np.median(np.abs(gains - med))), 0.05 * abs(med), 1e-9)
    z = (gains - med) / spread
    gate = 1.0 / (1.0 + np.exp(-(z - gate_z)))
    values = np.zeros(n)
    rows_out = []
    distance_columns = [i for i, name in enumerate(names) if name != "feature_norm"]
    for k, c in enumerate(classes):
        rows = scores.label == c
        values[rows] = gate[k] * posterior[rows]
        split = splits.get(int(c))
        row = {"class": int(c), "samples": int(rows.sum()), "gain": float(gains[k]), "z": float(z[k]),
               "gate": float(gate[k]), "flagged": bool(z[k] >= gate_z), "split": split is not None}
        if split is not None:
            shift = float(np.mean(split.suspect_profile[distance_columns]))
            row.update({"suspect": split.size, "direction": "stable" if shift < 0 else "susceptible",
                        "suspect_profile": dict(zip(names, np.round(split.suspect_profile, 3).tolist()))})
        rows_out.append(row)
    return Detection(values=values, posterior=posterior, classes=rows_out, profile_names=names,
                     settings={"components": components, "profile_weight": profile_weight, "gate_z": gate_z,
                               "features": scores.features is not None, "min_class_size": small})
