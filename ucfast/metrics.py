"""Detection metrics of a score or a selection against the ground-truth poison mask (no sklearn)."""
from __future__ import annotations

import math

import numpy as np

from .scores import Scores
from .selection import Selection


def _mask_for(poison_mask, index: np.ndarray) -> np.ndarray:
    mask = np.asarray(poison_mask.cpu() if hasattr(poison_mask, "cpu") else poison_mask).reshape(-1)
    if mask.dtype != bool:
        if not np.isin(mask, (0, 1)).all():
            raise ValueError("poison_mask must be boolean (or 0/1), one entry per dataset position")
        mask = mask.astype(bool)
    if index.size and mask.size <= int(index.max()):
        raise ValueError(
            f"poison_mask has {mask.size} entries but the scores reach dataset position {int(index.max())};"
            " give one entry per dataset position"
        )
    return mask[index]


def auroc(values: np.ndarray, positive: np.ndarray) -> float:
    """Area under the ROC curve (Mann-Whitney U with mid-ranks for ties); nan with one class only."""
    n_pos = int(positive.sum())
    n_neg = positive.size - n_pos
    if n_pos == 0 or n_neg == 0:
        return math.nan
    order = np.argsort(values, kind="mergesort")
    sorted_v = values[order]
    ranks = np.empty(values.size, dtype=np.float64)
    starts = np.flatnonzero(np.r_[True, sorted_v[1:] != sorted_v[:-1]])
    ends = np.r_[starts[1:], values.size]
    mid = (starts + ends + 1) / 2.0  # mean of 1-based ranks start+1..end
    ranks[order] = np.repeat(mid, ends - starts)
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def _roc_points(values: np.ndarray, positive: np.ndarray):
    """(fpr, tpr, precision, recall) at every distinct threshold, highest threshold first."""
    order = np.argsort(-values, kind="mergesort")
    v, pos = values[order], positive[order]
    last = np.r_[np.flatnonzero(v[1:] != v[:-1]), v.size - 1]  # last position of each tie group
    tp = np.cumsum(pos)[last].astype(np.float64)
    fp = (last + 1) - tp
    n_pos, n_neg = float(positive.sum()), float(positive.size - positive.sum())
    return fp / max(n_neg, 1.0), tp / max(n_pos, 1.0), tp / (tp + fp)


def auprc(values: np.ndarray, positive: np.ndarray) -> float:
    """Average precision: sum over thresholds of (recall step) x precision; nan without positives."""
    if positive.sum() == 0:
        return math.nan
    _, tpr, precision = _roc_points(values, positive)
    return float(np.sum(np.diff(np.r_[0.0, tpr]) * precision))


def tpr_at_fpr(values: np.ndarray, positive: np.ndarray, max_fpr: float) -> float:
    """Highest TPR of a threshold whose FPR is <= max_fpr; nan with one class only."""
    if positive.all() or not positive.any():
        return math.nan
    fpr, tpr, _ = _roc_points(values, positive)
    ok = fpr <= max_fpr
    return float(tpr[ok].max()) if ok.any() else 0.0


def _ranking(values: np.ndarray, positive: np.ndarray) -> dict:
    return {
        "auroc": auroc(values, positive),
        "auprc": auprc(values, positive),
        "tpr_at_fpr_1": tpr_at_fpr(values, positive, 0.01),
        "tpr_at_fpr_5": tpr_at_fpr(values, positive, 0.05),
    }


def _confusion(removed: np.ndarray, positive: np.ndarray) -> dict:
    tp = int((removed & positive).sum())
    fp = int((removed & ~positive).sum())
    fn = int((~removed & positive).sum())
    tn = int((~removed & ~positive).sum())
    tpr = tp / (tp + fn) if tp + fn else math.nan
    precision = tp / (tp + fp) if tp + fp else math.nan
    f1 = 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else math.nan
    return {"tp": tp, "fp": fp, "tn": tn, "fn": fn, "tpr": tpr,
            "fpr": fp / (fp + tn) if fp + tn else math.nan, "precision": precision, "f1": f1}


def detection(scores_or_selection, poison_mask) -> dict:
    """Detection quality against `poison_mask` (bool, one entry per dataset position).

    From `Scores`: the ranking metrics AUROC, AUPRC and TPR at FPR 1% and 5% of the total score.
    From a `Selection`: those of the values it ranked, plus TP, FP, TN, FN, TPR (the paper's
    detection rate), FPR, precision and F1 of its removals. Also the counts, and every metric per
    label class under "per_class". A ranking metric is NaN where the samples hold one class only
    (no poisoned or no clean sample); NaN or Inf values are refused.
    """
    if isinstance(scores_or_selection, Selection):
        sel = scores_or_selection
        values, index, removed, labels = sel.values, sel.index, sel.removed_mask, sel.label
    elif isinstance(scores_or_selection, Scores):
        sc = scores_or_selection
        values, index, removed, labels = sc.total.astype(np.float64), sc.index, None, sc.label
    else:
        raise TypeError(f"detection takes ucfast.Scores or ucfast.Selection, got {type(scores_or_selection).__name__}")
    positive = _mask_for(poison_mask, index)
    finite = np.isfinite(values)
    if not finite.all():
        bad = np.flatnonzero(~finite)
        raise ValueError(f"the ranked values hold {bad.size} NaN or Inf entries (first at dataset position"
                         f" {int(index[bad[0]])}); AUROC and AUPRC over them would be meaningless")

    def block(sub: np.ndarray) -> dict:
        out = {"n": int(sub.sum()), "poisoned": int(positive[sub].sum())}
        out.update(_ranking(values[sub], positive[sub]))
        if removed is not None:
            out.update(_confusion(removed[sub], positive[sub]))
        return out

    result = block(np.ones(index.size, dtype=bool))
    result["per_class"] = {int(c): block(labels == c) for c in np.unique(labels)}
    return result
