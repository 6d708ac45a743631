"""Poison detection beyond the paper's top-ratio cut (issue 7).

    det = ucfast.detect.detect(scores)         # two-sided, per class; values in [0, 1]
    removed, assumptions = ucfast.detect.auto_cut(det, scores.label)
    ucfast.select(scores, method="auto")       # the same, as a Selection

profile.py    stability profile: robust z of log per-variant distances and log feature norm
whiten.py     each class's features in units of the other classes' within-class variation
mixture.py    two-group split: 2-means then a diagonal two-Gaussian mixture, its gain, the groups' separation
subgroups.py  per-class split and which group is the suspect
calibrate.py  the null distributions: a Gaussian class's gain at its size, the critical value for K classes
detector.py   the calibrated class gate (robust z of gain, size and separation across classes), per-sample values
shared.py     the shared-trigger test for poison in (nearly) every class, where the class gate has no null
valley.py     a distribution-free test of two modes along a line (three intervals, binomial tails, split halves)
complete.py   completing the cut of a flagged class still oversized without its suspect group
cut.py        the automatic cut and the assumptions it reports
"""
from .cut import auto_cut
from .detector import ALPHA, Detection, detect
from .profile import robust_z, stability_profile

__all__ = ["detect", "auto_cut", "Detection", "ALPHA", "stability_profile", "robust_z"]
