"""The automatic cut: which samples to remove without being told the poison rate.

Rule: in every flagged class (the robust z across classes of its whitened mixture gain; or that z
plus the z of its size when larger and the z of its two groups' separation when larger; or the z
of its size alone, at least its critical value: the values at which a data set of that many clean
classes has a class flagged, by any of the three, with probability 0.8 alpha; or flagged by the
shared-trigger test at 0.2 alpha, when most classes are), remove the samples whose
posterior of the suspect group is > 1/2, and, where what is left of the class is still an outlier
in size, its excess over the other classes' median (`complete.py`); remove nothing elsewhere. The
number removed follows from the data. `assumptions` says what this took for granted and what it
found, so a reader can judge the cut.
"""
from __future__ import annotations

import numpy as np

from .detector import Detection


def auto_cut(detection: Detection, label: np.ndarray) -> tuple[np.ndarray, dict]:
    """(removed mask [N] bool, assumptions dict) for a detection and the scores' labels [N]."""
    flagged = detection.flagged
    removed = (np.isin(label, flagged) & (detection.posterior > 0.5)) | detection.completed
    rows = {row["class"]: row for row in detection.classes}
    found = {c: {"removed": int((removed & (label == c)).sum()), "of": rows[c]["samples"],
                 "direction": rows[c].get("direction"), "named_by": rows[c].get("named_by"),
                 "strength": round(rows[c]["strength"], 2), "completed": rows[c]["completed"],
                 "by_shared_trigger": rows[c]["by_shared"], "by_reference": rows[c].get("by_reference", False)}
             for c in flagged}
    unsplit = [row["class"] for row in detection.classes if not row["split"]]
    st = detection.settings
    rule = (f"remove the suspect group (posterior > 0.5) of every class whose robust z across classes of its"
            f" two-group mixture gain in whitened features is >= {st['critical']:.2f}, or that z plus the z of its"
            f" size and the z of its two groups' separation, each when larger, >= {st['combined_critical']:.2f},"
            f" or whose size z alone is >= {st['size_alone_critical']:.2f}: the values at which"
            f" {len(detection.classes)} clean classes have one flagged, by any, with probability"
            f" {st['alpha'] - st['shared_level']:.3g}")
    if st["features"]:
        rule += (f"; or, when more than half of the classes show a valley along the direction the other classes'"
                 f" offsets share (Benjamini-Hochberg at {st['shared_level']:.3g}), the group of each such class"
                 " toward that direction")
        rule += (f"; where what is left of such a class still stands out in size (size z >= {st['size_critical']:.2f}"
                 " against the other classes, each given back the suspect samples that lie inside it, the others"
                 " evenly), also its excess over their median size, from the group its top whitened axes and its"
                 " stability toward the suspect group split off")
    assumptions = {
        "rule": rule,
        "assumes": [
            "most label classes are clean: the null is estimated from the spread across classes (median, MAD);"
            " poison in more than half of the classes is left to the shared-trigger test, which needs one trigger"
            " whose group lies apart along the direction the other classes' offsets share, the smaller group of"
            " its class, and clean classes unimodal along a line not chosen from their own samples",
            "within a poisoned class, poisoned samples form their own group in penultimate features, along a"
            " direction the clean classes do not vary along (the trigger)",
            "clean classes split into natural sub-types about as sharply as each other, in units of the variation"
            " every class shows",
            "dirty-label poison adds samples to its target: a larger class is more suspect, by how far its size"
            " stands out from the spread of sizes of the other classes, each given back (up to their median size)"
            " the samples of the class's suspect group that lie inside it (a source the poison was drawn from"
            " counts at the size it had before)",
            "a trigger's group lies further from its class's genuine members than a clean class's sub-types lie"
            " from each other, in the units of the class's top whitened axes",
        ] + ([] if st["features"] else
             ["no penultimate features were kept: the split uses the per-variant distances only"]),
        "rate_given": False,
        "reference_samples": st["reference"],
        "false_alarm_rate": st["alpha"],
        "flagged_classes": found,
        "classes_too_small_to_split": unsplit,
        "removed": int(removed.sum()),
        "removed_share": float(removed.mean()) if removed.size else 0.0,
    }
    return removed, assumptions
