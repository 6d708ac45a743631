"""PNG plots of a scoring against the ground truth: score histogram and ROC curve.

matplotlib draws on its Agg canvas directly (no pyplot, no display, no global backend change).
"""
from __future__ import annotations

import os

import numpy as np

from .metrics import auroc
from .scores import Scores


def _aligned(scores: Scores, poison_mask) -> tuple[np.ndarray, np.ndarray]:
    mask = np.asarray(poison_mask, dtype=bool).reshape(-1)
    if mask.size <= int(scores.index.max()):
        raise ValueError(f"poison_mask has {mask.size} entries but the scores reach position {int(scores.index.max())}")
    return scores.total.astype(np.float64), mask[scores.index]


def _figure(width: float = 5.0, height: float = 3.6):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=120)
    FigureCanvasAgg(fig)
    return fig


def roc_points(values: np.ndarray, positive: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(fpr, tpr) of every distinct threshold, from (0, 0) to (1, 1)."""
    order = np.argsort(-values, kind="mergesort")
    v, pos = values[order], positive[order]
    last = np.r_[np.flatnonzero(v[1:] != v[:-1]), v.size - 1]
    tp = np.cumsum(pos)[last].astype(np.float64)
    fp = (last + 1) - tp
    return np.r_[0.0, fp / max(1, (~positive).sum())], np.r_[0.0, tp / max(1, positive.sum())]


def score_histogram(scores: Scores, poison_mask, path, *, threshold: float | None = None, bins: int = 60) -> str:
    """Histogram of the scores of clean and poisoned samples (log counts); a dashed line at
    `threshold` (the removal cut) when given. Writes a PNG to `path` and returns the path."""
    values, positive = _aligned(scores, poison_mask)
    fig = _figure()
    ax = fig.add_subplot()
    edges = np.linspace(values.min(), values.max() if values.max() > values.min() else values.min() + 1, bins + 1)
    ax.hist(values[~positive], bins=edges, alpha=0.65, label=f"clean ({int((~positive).sum())})", color="tab:blue")
    ax.hist(values[positive], bins=edges, alpha=0.65, label=f"poisoned ({int(positive.sum())})", color="tab:red")
    if threshold is not None and np.isfinite(threshold):
        ax.axvline(threshold, color="black", linestyle="--", linewidth=1, label="removal threshold")
    ax.set_yscale("log")
    ax.set_xlabel("UltraClean score (sum of L1 distances)")
    ax.set_ylabel("samples")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(os.fspath(path))
    return os.fspath(path)


def roc_curve(scores: Scores, poison_mask, path) -> str:
    """ROC curve of the score as a detector of poisoned samples, with its AUROC. Writes a PNG."""
    values, positive = _aligned(scores, poison_mask)
    fpr, tpr = roc_points(values, positive)
    fig = _figure(4.2, 4.0)
    ax = fig.add_subplot()
    ax.plot(fpr, tpr, color="tab:red", label=f"AUROC {auroc(values, positive):.3f}")
    ax.plot([0, 1], [0, 1], color="grey", linestyle=":", linewidth=1)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.01)
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(os.fspath(path))
    return os.fspath(path)
