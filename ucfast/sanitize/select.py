"""The job's selection: its readable samples as `ucfast.Scores`, cut by `ucfast.selection`, as status codes.

Unreadable samples (NaN scores) are no candidates: they count in neither the ratio's M, nor the
per-class statistics, nor the detector's classes, and keep the status UNREADABLE.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..scores import Scores
from ..selection import Rule, Selection, apply

KEPT, REMOVED, UNREADABLE = 0, 1, 2


@dataclass
class Outcome:
    status: np.ndarray  # [N] uint8: KEPT, REMOVED or UNREADABLE
    selection: Selection  # over the readable samples; its index holds their dataset positions
    rule: Rule

    @property
    def cutoff(self) -> float:
        """The threshold, or for a ratio the smallest removed value (inf when none)."""
        return self.selection.threshold

    def counts(self) -> dict:
        c = np.bincount(self.status, minlength=3)
        return {"kept": int(c[KEPT]), "removed": int(c[REMOVED]), "unreadable": int(c[UNREADABLE])}


def select_readable(rule: Rule, total, label, pred, components: dict, features=None) -> Outcome:
    """Apply `rule` to the readable samples of the job's merged [N] arrays (total NaN: unreadable);
    components {denoiser: [N]}, features [N, D] or None; any of them may be memory-mapped."""
    index = np.flatnonzero(~np.isnan(total))
    if features is not None and index.size < total.shape[0]:
        features = features[index]  # a copy; with every sample readable the memory map is used as it is
    scores = Scores(np.asarray(total[index]), {name: np.asarray(v[index]) for name, v in components.items()},
                    np.asarray(pred[index]), np.asarray(label[index]), index, features=features)
    selection = apply(scores, rule)
    status = np.full(total.shape[0], UNREADABLE, dtype=np.uint8)
    status[index] = KEPT
    status[selection.removed] = REMOVED
    return Outcome(status, selection, rule)
