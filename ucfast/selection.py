"""`ucfast.select`: which samples to remove, from their scores; the one selection of ucfast.

The library (`ucfast.select`), the demo and the sanitize job all select here: `check` turns the
arguments into a `Rule` (the sanitize job calls it before any scoring starts), `select` applies it.
Ratio cuts take the top-k with np.partition (O(N)) and per-class statistics one stable sort of the
labels, so ~1e8 scores (memory-mapped or not) need no full sort and no Python lists.
"""
from __future__ import annotations

import math
import numbers
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .detect import auto_cut, detect
from .scores import Scores

class NoFeatures(UserWarning):
    """method="auto" ran on scores without penultimate features (a weaker ranking)."""


METHODS = ("ultraclean", "auto")


@dataclass
class Selection:
    """The outcome of a selection over the scored samples.

    removed and kept are dataset positions (ascending). values are the numbers that were ranked
    (the scores, or per-class normalised scores), aligned with index. threshold is the given one,
    or for a ratio the smallest removed value (inf when nothing was removed).
    """

    removed: np.ndarray  # [R] int64
    kept: np.ndarray  # [N - R] int64
    threshold: float
    values: np.ndarray  # [N] float64
    index: np.ndarray  # [N] int64
    label: np.ndarray  # [N] int64
    removed_mask: np.ndarray  # [N] bool, aligned with index
    method: str
    assumptions: dict | None = None  # method="auto" without ratio/threshold: what the automatic cut assumed and found

    def __repr__(self) -> str:
        return (f"Selection(method={self.method!r}, removed={self.removed.size}, kept={self.kept.size},"
                f" threshold={self.threshold:.6g})")


@dataclass(frozen=True)
class Rule:
    """Checked selection arguments: what `select` ranks and where it cuts (see `select`)."""

    method: str  # one of METHODS
    ratio: float | None
    threshold: float | None
    classes: tuple[int, ...] | None  # sorted, distinct
    per_class: bool

    @property
    def ranked(self) -> str:
        """What the cut compares: the paper's score, its per-class robust z-score or the detector's value."""
        if self.method == "auto":
            return "detector value"
        return "per-class robust z-score" if self.per_class else "score"

    @property
    def name(self) -> str:
        """The rule in words, e.g. "ratio=0.1, per_class" or "auto, cut=auto"; `Selection.method`."""
        if self.ratio is not None:
            name = f"ratio={self.ratio}"
        elif self.threshold is not None:
            name = f"threshold={self.threshold}"
        else:
            name = "cut=auto"
        if self.method == "auto":
            name = "auto, " + name
        if self.per_class:
            name += ", per_class"
        if self.classes is not None:
            name += f", classes={list(self.classes)}"
        return name


def _number(value, name: str) -> float | None:
    """value as a float (Python or numpy scalar, not a bool), or None."""
    if value is None:
        return None
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a number, got {value!r} ({type(value).__name__})")
    return float(value)


def _classes(classes) -> tuple[int, ...] | None:
    if classes is None:
        return None
    items = [classes] if isinstance(classes, numbers.Integral) else classes
    try:
        items = list(items)
    except TypeError:
        raise ValueError(f"classes must be a class index or a list of them, got {classes!r}") from None
    if not items or any(isinstance(c, (bool, np.bool_)) or not isinstance(c, numbers.Integral) for c in items):
        raise ValueError(f"classes must be a class index or a non-empty list of them, got {classes!r}")
    return tuple(sorted({int(c) for c in items}))


def check(*, ratio=None, threshold=None, classes=None, per_class=False, method=None) -> Rule:
    """The one argument check of every selection (see `select` for the meaning); returns the Rule."""
    if method is not None and method not in METHODS:
        raise ValueError(f"method must be one of {METHODS} (or None: 'ultraclean' with a ratio or threshold,"
                         f" 'auto' without), got {method!r}")
    if not isinstance(per_class, (bool, np.bool_)):
        raise ValueError(f"per_class must be True or False, got {per_class!r}")
    ratio, threshold = _number(ratio, "ratio"), _number(threshold, "threshold")
    if method is None:
        method = "auto" if ratio is None and threshold is None and not per_class else "ultraclean"
    if method == "auto":
        if per_class:
            raise ValueError("per_class normalises the paper's score; method='auto' is per class already")
        if ratio is not None and threshold is not None:
            raise ValueError(f"give at most one of ratio or threshold with method='auto', got ratio={ratio!r},"
                             f" threshold={threshold!r}")
    elif (ratio is None) == (threshold is None):
        raise ValueError(f"give exactly one of ratio or threshold with method='ultraclean' or per_class (or"
                         f" neither, with method='auto' or no method, for the automatic cut), got ratio={ratio!r},"
                         f" threshold={threshold!r}")
    if ratio is not None and not 0 < ratio < 1:
        raise ValueError(f"ratio must be a fraction in (0, 1), got {ratio!r}")
    if threshold is not None and math.isnan(threshold):
        raise ValueError(f"threshold must be a number, got {threshold!r}")
    return Rule(method, ratio, threshold, _classes(classes), bool(per_class))


def per_class_values(total: np.ndarray, label: np.ndarray) -> np.ndarray:
    """[N] float64 robust z-scores within each label: (s - median) / (1.4826 * MAD), MAD floored at 1e-12."""
    values = np.empty(total.shape[0], dtype=np.float64)
    order = np.argsort(label, kind="stable")
    edges = np.flatnonzero(np.diff(label[order])) + 1
    for group in np.split(order, edges):
        if not group.size:
            continue
        s = np.asarray(total[group], dtype=np.float64)
        med = np.median(s)
        mad = max(1.4826 * float(np.median(np.abs(s - med))), 1e-12)
        values[group] = (s - med) / mad
    return values


def top_k(values: np.ndarray, candidates: np.ndarray, index: np.ndarray, k: int) -> tuple[np.ndarray, float]:
    """Positions of the k largest values among `candidates` (positions into values), ties to the lower
    dataset position index[...], and the smallest chosen value (inf when k is 0)."""
    if k <= 0:
        return np.zeros(0, dtype=np.int64), math.inf
    v = values[candidates]
    kth = np.partition(v, v.size - k)[v.size - k]
    above = np.flatnonzero(v > kth)
    ties = np.flatnonzero(v == kth)
    ties = ties[np.argsort(index[candidates[ties]], kind="stable")[: k - above.size]]
    return candidates[np.concatenate([above, ties])], float(kth)


def check_labels(rule: Rule, label: np.ndarray) -> None:
    """What `rule` needs of the labels, checked before any scoring where the labels are known up front:
    every class of `classes` occurs, method="auto" sees at least 3 label classes, and a ratio removes
    at least one of the candidates (floor(ratio * M) >= 1)."""
    present = np.unique(label)
    if rule.classes is not None:
        missing = np.setdiff1d(np.asarray(rule.classes, dtype=np.int64), present)
        if missing.size:
            raise ValueError(f"classes {missing.tolist()} do not occur among the labels {present.tolist()}")
    if rule.method == "auto" and present.size < 3:
        raise ValueError(f"method='auto' compares label classes and needs at least 3, the labels hold"
                         f" {present.size} ({present.tolist()}); give a ratio or threshold for the paper's cut")
    if rule.ratio is not None:
        m = int(np.isin(label, rule.classes).sum()) if rule.classes is not None else int(label.shape[0])
        if math.floor(rule.ratio * m) == 0:
            raise ValueError(f"ratio={rule.ratio} of {m} candidate samples removes floor({rule.ratio * m:.4g}) = 0;"
                             f" give a ratio of at least 1/{m} = {1 / max(m, 1):.4g}, or a threshold")


def _candidates(rule: Rule, label: np.ndarray) -> np.ndarray:
    """[N] bool: the samples the cut may remove."""
    check_labels(rule, label)
    if rule.classes is None:
        return np.ones(label.shape[0], dtype=bool)
    return np.isin(label, rule.classes)


def select(scores: Scores, *, ratio: float | None = None, threshold: float | None = None,
           classes: Sequence[int] | int | None = None, per_class: bool = False,
           method: str | None = None, reference: Scores | None = None) -> Selection:
    """Remove the most susceptible (method="ultraclean") or most suspect (method="auto") samples.

    method="ultraclean" (what a ratio or threshold alone means): rank the paper's score, exactly
    the authors' cut. method="auto" (what no method, no ratio and no threshold means): rank
    `ucfast.detect.detect`'s two-sided values (in [0, 1]); without ratio and threshold it makes the
    automatic cut (`ucfast.detect.auto_cut`), needing no poison rate, and records what it assumed
    in `Selection.assumptions`. auto is the default because it did best across the attack matrix
    (bench/results/); it needs features=True scores to be sharp and at least 3 label classes.
    ratio: remove the top floor(ratio * M) of the M candidates (the authors' rule), ties broken by
    dataset position (lower first); a ratio that would remove none is refused; threshold: remove
    every candidate whose value is >= threshold.
    With method="ultraclean" give exactly one; with method="auto" at most one. Numbers may be Python
    or numpy scalars, not bools; scores that hold NaN or Inf are refused.
    classes: only samples whose label is in `classes` are candidates ("poisoned class known").
    per_class: rank robust per-class z-scores of the paper's score instead of raw scores, so
    classes whose samples are all more susceptible do not take the whole budget (ultraclean only).
    reference: optional trusted clean samples, `ucfast.score(reference_loader, model)` with the same
    model and features (method="auto" only); they name which group of a class is genuine where
    they are decisive (`ucfast.detect.detect`).
    """
    rule = check(ratio=ratio, threshold=threshold, classes=classes, per_class=per_class, method=method)
    return apply(scores, rule, reference=reference)


def apply(scores: Scores, rule: Rule, reference: Scores | None = None) -> Selection:
    """`select` with arguments already checked by `check`."""
    if not isinstance(scores, Scores):
        raise TypeError(f"scores must be ucfast.Scores (from ucfast.score), got {type(scores).__name__}")
    if reference is not None and rule.method != "auto":
        raise ValueError(f"reference= is used by method='auto' (the detector), not by {rule.name!r}; drop it or"
                         " the ratio/threshold")
    label = np.asarray(scores.label)
    total = np.asarray(scores.total)
    finite = np.isfinite(total)
    if not finite.all():
        bad = np.flatnonzero(~finite)
        raise ValueError(f"scores hold {bad.size} NaN or Inf values (first at dataset position"
                         f" {int(scores.index[bad[0]])}: {total[bad[0]]}); a cut over them would be meaningless:"
                         " drop those samples or fix what scored them")
    candidate = _candidates(rule, label)
    assumptions = None
    if rule.method == "auto":
        if scores.features is None:
            warnings.warn("ucfast.select(method='auto') got scores without penultimate features: the detector"
                          " splits the per-variant distances only, which can rank worse than the paper's score"
                          " (a held-out evaluation measured AUROC 0.25 to 0.45 that way); score with"
                          " features='auto' (ucfast.score's default) or give a ratio for the paper's cut",
                          NoFeatures, stacklevel=3)
        detection = detect(scores, reference=reference)
        values = detection.values
    elif rule.per_class:
        values = per_class_values(scores.total, label)
    else:
        values = np.asarray(scores.total, dtype=np.float64)
    removed_mask = np.zeros(label.shape[0], dtype=bool)
    if rule.ratio is not None:
        cand = np.flatnonzero(candidate)
        chosen, thr = top_k(values, cand, scores.index, int(math.floor(rule.ratio * cand.size)))
        removed_mask[chosen] = True
    elif rule.threshold is not None:
        thr = rule.threshold
        removed_mask = candidate & (values >= thr)
    else:
        removed_mask, assumptions = auto_cut(detection, label)
        removed_mask &= candidate
        thr = float(values[removed_mask].min()) if removed_mask.any() else math.inf
    return Selection(
        removed=scores.index[removed_mask], kept=scores.index[~removed_mask], threshold=thr,
        values=values, index=scores.index, label=label, removed_mask=removed_mask, method=rule.name,
        assumptions=assumptions,
    )
