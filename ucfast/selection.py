"""`ucfast.select`: which samples to remove, from their scores."""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .detect import auto_cut, detect
from .scores import Scores

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


def _per_class_values(total: np.ndarray, label: np.ndarray) -> np.ndarray:
    """Robust z-score within each label class: (s - median) / (1.4826 * MAD), MAD floored at 1e-12."""
    values = np.empty_like(total)
    for c in np.unique(label):
        m = label == c
        s = total[m]
        med = np.median(s)
        mad = max(1.4826 * float(np.median(np.abs(s - med))), 1e-12)
        values[m] = (s - med) / mad
    return values


def select(scores: Scores, *, ratio: float | None = None, threshold: float | None = None,
           classes=None, per_class: bool = False, method: str | None = None) -> Selection:
    """Remove the most susceptible (method="ultraclean") or most suspect (method="auto") samples.

    method="ultraclean" (what a ratio or threshold alone means): rank the paper's score, exactly
    the authors' cut. method="auto" (what no method, no ratio and no threshold means): rank
    `ucfast.detect.detect`'s two-sided values (in [0, 1]); without ratio and threshold it makes the
    automatic cut (`ucfast.detect.auto_cut`), needing no poison rate, and records what it assumed
    in `Selection.assumptions`. auto is the default because it did best across the attack matrix
    (bench/results/); it needs features=True scores to be sharp and at least 3 label classes.
    ratio: remove the top floor(ratio * M) of the M candidates (the authors' rule);
    threshold: remove every candidate whose value is >= threshold. With method="ultraclean" give
    exactly one; with method="auto" at most one.
    classes: only samples whose label is in `classes` are candidates ("poisoned class known").
    per_class: rank robust per-class z-scores of the paper's score instead of raw scores, so
    classes whose samples are all more susceptible do not take the whole budget (ultraclean only).
    """
    if not isinstance(scores, Scores):
        raise TypeError(f"scores must be ucfast.Scores (from ucfast.score), got {type(scores).__name__}")
    if method is not None and method not in METHODS:
        raise ValueError(f"method must be one of {METHODS} (or None: 'ultraclean' with a ratio or threshold,"
                         f" 'auto' without), got {method!r}")
    if method is None and ratio is None and threshold is None and not per_class:
        method = "auto"
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
    if ratio is not None and (isinstance(ratio, bool) or not isinstance(ratio, (int, float)) or not 0 < ratio < 1):
        raise ValueError(f"ratio must be a fraction in (0, 1), got {ratio!r}")
    if threshold is not None and (not isinstance(threshold, (int, float)) or math.isnan(threshold)):
        raise ValueError(f"threshold must be a number, got {threshold!r}")
    total = scores.total.astype(np.float64)
    assumptions = None
    if method == "auto":
        detection = detect(scores)
        values = detection.values
    else:
        values = _per_class_values(total, scores.label) if per_class else total
    candidate = np.ones(len(total), dtype=bool)
    if classes is not None:
        wanted = np.asarray(list(classes) if not isinstance(classes, int) else [classes], dtype=np.int64)
        missing = np.setdiff1d(wanted, scores.label)
        if missing.size:
            raise ValueError(f"classes {missing.tolist()} do not occur among the scored labels {np.unique(scores.label).tolist()}")
        candidate = np.isin(scores.label, wanted)
    cand_pos = np.flatnonzero(candidate)
    if ratio is not None:
        k = int(math.floor(ratio * cand_pos.size))
        # Highest values first; ties broken by dataset position so the result is deterministic.
        order = np.lexsort((scores.index[cand_pos], -values[cand_pos]))
        chosen = cand_pos[order[:k]]
        thr = float(values[chosen].min()) if k else math.inf
        removed_mask = np.zeros(len(total), dtype=bool)
        removed_mask[chosen] = True
        name = f"ratio={ratio}"
    elif threshold is not None:
        thr = float(threshold)
        removed_mask = candidate & (values >= thr)
        name = f"threshold={thr}"
    else:
        removed_mask, assumptions = auto_cut(detection, scores.label)
        removed_mask &= candidate
        thr = float(values[removed_mask].min()) if removed_mask.any() else math.inf
        name = "cut=auto"
    if method == "auto":
        name = "auto, " + name
    if per_class:
        name += ", per_class"
    if classes is not None:
        name += f", classes={sorted(set(int(c) for c in np.atleast_1d(classes)))}"
    return Selection(
        removed=scores.index[removed_mask], kept=scores.index[~removed_mask], threshold=thr,
        values=values, index=scores.index, label=scores.label, removed_mask=removed_mask, method=name,
        assumptions=assumptions,
    )
