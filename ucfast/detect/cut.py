"""The automatic cut: which samples to remove without being told the poison rate.

Rule: in every flagged class (strength = its whitened mixture gain over the median class's, times its
size over the median class's when larger, >= gate_ratio), remove the samples whose posterior of
the suspect group is > 1/2, and, where the rest of the class is still well above the median size,
its excess along its top whitened axis (`complete.py`); remove nothing elsewhere. The number
removed follows from the data. `assumptions` says what this took for granted and what it found,
so a reader can judge the cut.
"""
from __future__ import annotations

import numpy as np

from .complete import COMPLETE_ABOVE
from .detector import BALANCED_RANGE, Detection


def auto_cut(detection: Detection, label: np.ndarray) -> tuple[np.ndarray, dict]:
    """(removed mask [N] bool, assumptions dict) for a detection and the scores' labels [N]."""
    flagged = detection.flagged
    removed = (np.isin(label, flagged) & (detection.posterior > 0.5)) | detection.completed
    rows = {row["class"]: row for row in detection.classes}
    found = {c: {"removed": int((removed & (label == c)).sum()), "of": rows[c]["samples"],
                 "direction": rows[c].get("direction"), "ratio": round(rows[c]["ratio"], 2),
                 "completed": rows[c]["completed"]} for c in flagged}
    unsplit = [row["class"] for row in detection.classes if not row["split"]]
    sized = detection.settings["size_prior"]
    rule = (f"remove the suspect group (posterior > 0.5) of every class whose strength (two-group mixture gain in"
            f" whitened features over the median class's{', times its size over the median size when larger' if sized else ''})"
            f" is >= {detection.settings['gate_ratio']}")
    if sized and detection.settings["features"]:
        rule += (f"; where the rest of such a class is still over {COMPLETE_ABOVE} x the median size, also its excess"
                 " over the median size, from one end of its top whitened axis")
    within = "{:.0%} of the classes are within {}-{} x the median size".format(
        detection.settings["balanced_share"], *BALANCED_RANGE)
    if sized:
        sizes = (f"label classes are about equally large ({within}), so a class well above the median size is"
                 " suspect (dirty-label poison adds samples to its target)")
    elif detection.settings["size_prior_asked"] is False:
        sizes = f"class sizes were not used (size_prior=False; {within})"
    else:
        sizes = f"class sizes were not used: only {within}"
    assumptions = {
        "rule": rule,
        "assumes": [
            "the poison sits in a minority of the label classes (one attack target, or a few)",
            "within a poisoned class, poisoned samples form their own group in penultimate features, along a"
            " direction the clean classes do not vary along (the trigger)",
            "clean classes split into natural sub-types less sharply, in units of the variation every class"
            " shows, than a poisoned class splits",
        ] + [sizes]
          + ([] if detection.settings["features"] else
             ["no penultimate features were kept: the split uses the per-variant distances only"]),
        "rate_given": False,
        "flagged_classes": found,
        "classes_too_small_to_split": unsplit,
        "removed": int(removed.sum()),
        "removed_share": float(removed.mean()) if removed.size else 0.0,
    }
    return removed, assumptions
