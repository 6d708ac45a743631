"""`detect(scores)`: a two-sided, per-class poison detector built on what the scoring pass computes.

    penultimate features (same forward)  --> whitened by natural within-class variation (whiten.py)
    per-variant distances (+ feature norm) --> stability profile                       (profile.py)
    per label class: two-group mixture on its top whitened components --> gain, suspect group
                     (the group further from every other class)          (subgroups.py)
    strength = gain over the median class's gain, x the class's size over the median class's
               when it is larger (size_prior)                          --> class gate
    flagged class still oversized without its suspect group --> completed along its top axis
                                                                       (complete.py)
    value of a sample = gate(class) x (1 + posterior(suspect group)) / 2, in [0, 1]
                        (posterior taken as 1 for the completed samples)

Why the gain in whitened units: a poisoned class holds a group that differs from its genuine
members along a direction no clean class varies along (the trigger); measured in units of the
variation every class shows, that group splits off far more sharply (a large mixture gain per
sample) than the natural sub-types of any clean class. Each gain is compared to the median class
as a ratio, not a robust z: with ten classes a median absolute deviation is too noisy to set a
threshold on. Why the size: dirty-label poison ADDS samples to its target class; on a data set
whose classes are about equally large, a class well above the median size that also splits in two
is the strongest single sign of it. Clean-label poison does not change sizes and is flagged by its
split alone. The size is used only when the classes are otherwise about equally large
(size_prior="auto": at least BALANCED_SHARE of them within BALANCED_RANGE of the median size), so a
long-tailed data set does not have its head classes flagged and cut for their size.

Why (1 + posterior) / 2: every sample of a flagged class ranks above every sample of a class that
is not, and within a class the suspect group ranks first. It catches poison that is the MOST
susceptible (a trigger that denoising removes: BadNets) and poison that is the LEAST susceptible (a
trigger that survives denoising and saturates the softmax: blended noise, low-frequency waves),
because the split is on features, not on the sign of the paper's score. It assumes the poison sits
in few label classes (the attack's target); it never sees the poison mask.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ..scores import Scores
from .complete import complete_class
from .profile import stability_profile
from .subgroups import min_class_size, split_class
from .whiten import class_axes

GATE_RATIO = 4.5  # a class whose strength (gain ratio x size ratio) reaches this is flagged
GAIN_FLOOR = 0.05  # nats per sample: the median gain is taken as at least this (unimodal classes give ~0.01)
BALANCED_SHARE = 0.8  # size_prior="auto" uses the size when this share of the classes is within BALANCED_RANGE
BALANCED_RANGE = (0.75, 1.33)  # class size over the median class size
GATE_SHARPNESS = 4.0  # gate = 1 / (1 + (GATE_RATIO / ratio) ** GATE_SHARPNESS): 1/2 at the threshold, ~0.16 at 2/3 of it


@dataclass
class Detection:
    """Per-sample values (higher = more likely poisoned, in [0, 1]) aligned with scores.index,
    the posterior of each sample's suspect group, the samples that complete an oversized flagged
    class's cut, and one row per label class."""

    values: np.ndarray  # [N] float64
    posterior: np.ndarray  # [N] float64
    completed: np.ndarray  # [N] bool: added to a flagged class's cut by `complete.complete_class`
    classes: list[dict] = field(default_factory=list)
    profile_names: list[str] = field(default_factory=list)
    settings: dict = field(default_factory=dict)

    @property
    def flagged(self) -> list[int]:
        return [row["class"] for row in self.classes if row["flagged"]]


def _check(scores, components, profile_weight, gate_ratio, size_prior):
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
    if not isinstance(size_prior, bool) and size_prior != "auto":
        raise ValueError(f"size_prior must be 'auto', True or False, got {size_prior!r}")
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


def detect(scores: Scores, *, components: int = 4, profile_weight: float = 0.0,
           gate_ratio: float = GATE_RATIO, size_prior: bool | str = "auto") -> Detection:
    """Score every sample of `scores` for being poisoned, in both directions (see the module doc).

    components: whitened principal components of the penultimate features used per class;
    profile_weight: weight of the stability profile in the split, next to them (0: features alone;
    the profile still names each suspect group's direction); gate_ratio: the strength at which a
    class's gate reaches 1/2 and it is flagged; size_prior: count a class larger than the median
    class as that much more suspect (dirty-label poison adds samples to its target) and complete its
    cut (complete.py); "auto": when the classes are otherwise about equally large. Works without
    features (scores from `ucfast.score(...)` without features=True) on the per-variant distances
    alone, less sharply.
    """
    classes = _check(scores, components, profile_weight, gate_ratio, size_prior)
    profile, names = stability_profile(scores)
    feats = None if scores.features is None else scores.features.astype(np.float64)
    n = len(scores)
    posterior = np.zeros(n)
    gains = np.zeros(classes.size)
    splits = {}
    small = min_class_size(components)
    counts = np.array([int((scores.label == c).sum()) for c in classes])
    if feats is not None:
        centroids = np.stack([feats[scores.label == c].mean(0) for c in classes])  # [K, D]
        axes = class_axes(feats, scores.label, classes, components)
    for k, c in enumerate(classes):
        rows = np.flatnonzero(scores.label == c)
        if rows.size < small:
            continue
        if feats is None:
            split = split_class(None, None, profile[rows])
        else:
            split = split_class(axes[c], feats[rows], profile[rows], others=np.delete(centroids, k, axis=0),
                                profile_weight=profile_weight)
        posterior[rows] = split.posterior
        gains[k] = split.gain
        splits[int(c)] = split
    gain_ratio = gains / max(float(np.median(gains)), GAIN_FLOOR)
    size = counts / float(np.median(counts))
    balanced = float(np.mean((size >= BALANCED_RANGE[0]) & (size <= BALANCED_RANGE[1])))
    asked = size_prior
    if size_prior == "auto":
        size_prior = balanced >= BALANCED_SHARE
    ratio = np.maximum(gain_ratio, 0.0) * (np.maximum(size, 1.0) if size_prior else 1.0)
    gate = ratio ** GATE_SHARPNESS / (ratio ** GATE_SHARPNESS + gate_ratio ** GATE_SHARPNESS)
    completed = np.zeros(n, dtype=bool)
    if size_prior and feats is not None:
        for k, c in enumerate(classes):
            if ratio[k] >= gate_ratio and int(c) in splits:
                completed[complete_class(feats, scores.label, classes, c, posterior > 0.5,
                                         float(np.median(counts)), components)] = True
    values = np.zeros(n)
    rows_out = []
    distance_columns = [i for i, name in enumerate(names) if name != "feature_norm"]
    for k, c in enumerate(classes):
        rows = scores.label == c
        values[rows] = gate[k] * (1.0 + np.where(completed[rows], 1.0, posterior[rows])) / 2.0
        split = splits.get(int(c))
        row = {"class": int(c), "samples": int(counts[k]), "gain": float(gains[k]), "gain_ratio": float(gain_ratio[k]),
               "size": float(size[k]), "ratio": float(ratio[k]), "gate": float(gate[k]),
               "flagged": bool(ratio[k] >= gate_ratio), "split": split is not None,
               "completed": int(completed[rows].sum())}
        if split is not None:
            shift = float(np.mean(split.suspect_profile[distance_columns]))
            row.update({"suspect": split.size, "direction": "stable" if shift < 0 else "susceptible",
                        "suspect_profile": dict(zip(names, np.round(split.suspect_profile, 3).tolist()))})
        rows_out.append(row)
    return Detection(values=values, posterior=posterior, completed=completed, classes=rows_out, profile_names=names,
                     settings={"components": components, "profile_weight": profile_weight, "gate_ratio": gate_ratio,
                               "size_prior": size_prior, "size_prior_asked": asked, "balanced_share": balanced,
                               "features": scores.features is not None,
                               "min_class_size": small})
