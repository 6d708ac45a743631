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


def select_readable(rule: Rule, total, label, pred, components: dict, features=None,
                    reference: Scores | None = None) -> Outcome:
    """Apply `rule` to the readable samples of the job's merged [N] arrays (total NaN: unreadable);
    components {denoiser: [N]}, features [N, D] or None; any of them may be memory-mapped; reference:
    the trusted clean set's Scores (`read_reference`), for the detector."""
    index = np.flatnonzero(~np.isnan(total))
    if features is not None and index.size < total.shape[0]:
        features = features[index]  # a copy; with every sample readable the memory map is used as it is
    scores = Scores(np.asarray(total[index]), {name: np.asarray(v[index]) for name, v in components.items()},
                    np.asarray(pred[index]), np.asarray(label[index]), index, features=features)
    selection = apply(scores, rule, reference=reference)
    status = np.full(total.shape[0], UNREADABLE, dtype=np.uint8)
    status[index] = KEPT
    status[selection.removed] = REMOVED
    return Outcome(status, selection, rule)


def check_reference_labels(reference: np.ndarray, labels: np.ndarray, path: str) -> None:
    """Refuse, before any scoring, a reference whose samples are unlabelled or of no class of the data."""
    if reference.size == 0:
        raise ValueError(f"reference: {path} holds no samples")
    if reference.min() < 0:
        raise ValueError(f"reference: {int((reference < 0).sum())} of {reference.size} samples of {path} have no"
                         " label; a trusted clean sample needs its class")
    unknown = np.setdiff1d(np.unique(reference), np.unique(labels))
    if unknown.size:
        raise ValueError(f"reference: {path} holds labels {unknown.tolist()[:10]} that no sample of the data has")


@dataclass
class Trusted:
    """The trusted clean set of a job: its Source, the job folder its chunks were scored into, and their bounds."""

    source: object
    job: object
    bounds: np.ndarray

    def describe(self, scores: Scores) -> dict:
        """report.json's "reference": where it came from and how many of its samples were read."""
        return {"kind": self.source.kind, "path": self.source.path, "samples": len(self.source),
                "fingerprint": self.source.fingerprint, "scored": len(scores)}


def read_reference(trusted: Trusted, denoisers) -> Scores:
    """The readable samples of the trusted set as Scores (with features), read from its chunk files."""
    parts = [trusted.job.read_chunk(c, int(a), int(b))
             for c, (a, b) in enumerate(zip(trusted.bounds[:-1], trusted.bounds[1:]))]
    total = np.concatenate([p["total"] for p in parts])
    keep = np.flatnonzero(~np.isnan(total))
    if keep.size == 0:
        raise ValueError(f"reference: none of the {total.size} samples of {trusted.source.path} could be read")
    dist = np.concatenate([p["dist"] for p in parts], axis=1)
    width = next(p["features"].shape[1] for p in parts if p["features"] is not None)
    features = np.concatenate([p["features"] if p["features"] is not None
                               else np.full((p["total"].size, width), np.nan, np.float16) for p in parts])
    return Scores(total[keep], {name: dist[i, keep] for i, name in enumerate(denoisers)},
                  np.concatenate([p["pred"] for p in parts])[keep], np.asarray(trusted.source.labels)[keep], keep,
                  features=features[keep])
