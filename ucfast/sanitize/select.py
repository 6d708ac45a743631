"""Selection over up to ~1e8 scores, memory-mapped or not, without Python lists.

The rules are `ucfast.select`'s: ratio removes the top floor(ratio * M) of the M candidates, ties
broken by dataset position (lower first); threshold removes every candidate whose value is >= it;
`classes` restricts the candidates to those labels; `per_class` ranks robust per-class z-scores
((s - median) / (1.4826 * MAD), MAD floored at 1e-12) instead of raw scores. Unreadable samples
(NaN scores) are no candidates and count in neither M nor the per-class statistics. The top-k uses
np.partition (O(N)) instead of a full sort; per-class statistics take one stable sort of the labels.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

KEPT, REMOVED, UNREADABLE = 0, 1, 2


@dataclass
class Outcome:
    status: np.ndarray  # [N] uint8: KEPT, REMOVED or UNREADABLE
    cutoff: float  # the threshold, or for a ratio the smallest removed value (inf when none)
    method: str
    value: str  # what was ranked: "score" or "per-class robust z-score"

    def counts(self) -> dict:
        c = np.bincount(self.status, minlength=3)
        return {"kept": int(c[KEPT]), "removed": int(c[REMOVED]), "unreadable": int(c[UNREADABLE])}


def check(ratio, threshold) -> None:
    """The argument rules of ucfast.select, except that giving neither means: remove nothing."""
    if ratio is not None and threshold is not None:
        raise ValueError(f"give one of ratio or threshold, not both (got ratio={ratio!r}, threshold={threshold!r})")
    if ratio is not None and (isinstance(ratio, bool) or not isinstance(ratio, (int, float)) or not 0 < ratio < 1):
        raise ValueError(f"ratio must be a fraction in (0, 1), got {ratio!r}")
    if threshold is not None and (isinstance(threshold, bool) or not isinstance(threshold, (int, float))
                                  or math.isnan(threshold)):
        raise ValueError(f"threshold must be a number, got {threshold!r}")


def per_class_values(total: np.ndarray, label: np.ndarray, scored: np.ndarray) -> np.ndarray:
    """[N] float64 robust z-scores within each label (NaN where not scored); ucfast.select's formula."""
    values = np.full(total.shape[0], np.nan, dtype=np.float64)
    pos = np.flatnonzero(scored)
    order = pos[np.argsort(label[pos], kind="stable")]
    sorted_labels = label[order]
    edges = np.flatnonzero(np.diff(sorted_labels)) + 1
    for group in np.split(order, edges):
        if not group.size:
            continue
        s = np.asarray(total[group], dtype=np.float64)
        med = np.median(s)
        mad = max(1.4826 * float(np.median(np.abs(s - med))), 1e-12)
        values[group] = (s - med) / mad
    return values


def top_k(values: np.ndarray, candidates: np.ndarray, k: int) -> tuple[np.ndarray, float]:
    """Positions of the k largest values among `candidates` (ascending positions), ties to lower positions,
    and the smallest chosen value."""
    if k <= 0:
        return np.zeros(0, dtype=np.int64), math.inf
    v = np.asarray(values[candidates])
    kth = np.partition(v, v.size - k)[v.size - k]
    above = v > kth
    ties = np.flatnonzero(v == kth)[: k - int(above.sum())]
    chosen = np.concatenate([np.flatnonzero(above), ties])
    chosen.sort()
    return candidates[chosen], float(kth)


def select(total: np.ndarray, label: np.ndarray, *, ratio=None, threshold=None, classes=None,
           per_class: bool = False) -> Outcome:
    """Which samples to remove, from [N] float32 scores (NaN: unreadable) and [N] labels."""
    check(ratio, threshold)
    scored = ~np.isnan(total)
    status = np.where(scored, KEPT, UNREADABLE).astype(np.uint8)
    values = per_class_values(total, label, scored) if per_class else total
    candidate = scored
    if classes is not None:
        wanted = np.unique(np.asarray([classes] if isinstance(classes, (int, np.integer)) else list(classes),
                                      dtype=np.int64))
        present = np.unique(label[scored])
        missing = np.setdiff1d(wanted, present)
        if missing.size:
            raise ValueError(f"classes {missing.tolist()} do not occur among the scored labels {present.tolist()}")
        candidate = scored & np.isin(label, wanted)
    value = "per-class robust z-score" if per_class else "score"
    if ratio is None and threshold is None:
        return Outcome(status, math.inf, "none", value)
    if ratio is not None:
        cand = np.flatnonzero(candidate)
        chosen, cutoff = top_k(values, cand, int(math.floor(ratio * cand.size)))
        status[chosen] = REMOVED
        method = f"ratio={ratio}"
    else:
        cutoff = float(threshold)
        status[candidate & (values >= cutoff)] = REMOVED
        method = f"threshold={cutoff}"
    if per_class:
        method += ", per_class"
    if classes is not None:
        method += f", classes={sorted(set(int(c) for c in np.atleast_1d(classes)))}"
    return Outcome(status, cutoff, method, value)
