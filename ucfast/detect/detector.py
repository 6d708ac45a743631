"""`detect(scores)`: a two-sided, per-class poison detector whose class decisions are calibrated.

    penultimate features (same forward)  --> data set's top axes, chunked (whiten.reduction)
                                         --> each class whitened by the other classes' variation
    per-variant distances (+ feature norm) --> stability profile                       (profile.py)
    per label class: two-group mixture on its top whitened components --> gain, suspect group
                     (the group whose variation departs from the other classes'; in a grown
                     class, not a group whose removal would leave it too small; with a trusted
                     reference, the group its samples are decisively unlike)  (subgroups.py)
    grown class      (plain size z past one class's critical value at alpha): the group whose
                     members lie nearest to more other classes than any clean class's do, when
                     the other's do not, at alpha / 2 each, is the suspect, if the class without
                     it is not too small (dirty-label poison drawn from many classes; sources.py);
                     where it would be, the group holds genuine members too (an adaptive attack
                     whose poison splits with a genuine sub-type): it is split again and the
                     sub-group the same rules name is the suspect, if the class without it is not
                     too small;
                     otherwise, unless its groups differ in departure more than the other
                     classes' do, at alpha, the group most of three cues name (departure, centroid, spread
                     of nearest other classes; cues.py), under the same size condition (naming.py)
    class statistics t = log gain (at least the gain one Gaussian of the class's size shows),
                     u = log class size, s = log separation of the two groups (mixture.separation)
    size z           of u against the other classes' log sizes, each given back the samples of
                     the class's suspect group that lie inside it (complete.lying_inside), up to
                     the other classes' median size
    class tests      robust z of t across classes (median; trimmed spread, calibrate.trimmed_spread);
                     that z + the positive parts of the z of u and of s; the z of u alone
                                                                          (calibrate.strengths)
    flagged          any test >= its critical value for K classes: the values the largest of K
                     clean classes' exceed, any of them, with probability 0.8 alpha (calibrate.critical);
                     or, when most classes hold a group apart along the direction the other
                     classes' offsets share, the shared-trigger test at 0.2 alpha (shared.py)
    flagged class still larger than the others without its suspect group, the others given back
                     what a dirty-label attack drew from them (a suspect sample inside another
                     class's cloud to that class, the rest evenly; that size's z past one class's
                     critical value at alpha) --> completed (complete.py)
    value of a sample = (1 + posterior(suspect group)) / 2 in a flagged class, in [1/2, 1];
                        gate(class) x (1 + posterior) / 2 elsewhere, below 1/2

Why calibrated: the decision "this class holds a second population that its peers do not" is a
test, and its false-alarm rate is set per data set: `alpha` is the chance that a data set with no
poisoned class has any class flagged, for 10 classes as for 1000 (the critical value grows with K).
The null is estimated from the data (the spread of the statistic across classes) rather than fixed
as a ratio, because clean classes do split into natural sub-types, more in some data sets than in
others; the floors on the spread (a class's gain's and separation's own standard errors, one
count's Poisson noise in size) keep a data set of near-identical classes from reading sampling
noise as a signal. The size term is one-sided: dirty-label poison ADDS samples to its target
class; on a long-tailed data set the spread of sizes is wide and the term stays small by itself.
It is measured against the other classes as they were before the class's suspect group was drawn
from them: a source-specific attack (TaCT) depletes its one or two sources, and those sources,
left as they are, widen the spread that the target's growth is measured in (a bag class grown
from 300 to 607 samples by two sources left at 142 and 156 had a size z of 3.3, and 7.4 with its
suspect group, one source's poison, given back). A class is given back at most up to the other
classes' median size: a suspect group lies inside some other class more often than not (the
radius holds 1 - alpha of that class's own samples, and classes overlap), and filling a class past
the typical size would widen the spread instead (two targets: a target's genuine group, wrongly
suspect, given back to a neighbour took the size z from 9.0 to 2.4). Giving back, so capped, can
only narrow the spread by filling a class that is small by nature (not simulated in
`calibrate.critical`; on the clean, long-tailed and 100-class cells no class's flag changed).
The separation term is
one-sided too: a trigger makes a group of its own, far from the class's genuine members, and the
distance between the groups' means (in their pooled variance) does not shrink with the group's
share as the gain per sample does, so a low-rate attack (a tenth of its class) that splits off
just short of the line is counted by how far apart its group lies. The same size z, of what a
class would hold without one of its groups, names the suspect in a grown class (dirty-label poison
is at most the growth: a suspect group whose removal leaves the class smaller than a clean class
at one class's level alpha, when the other group's would not, is the wrong one; smaller against
the sizes its growth was measured against, the other classes given back what the suspect group
took: two sources of 150 left at 50 widen the spread so far that 150 left over looks like a
class) and decides
whether a flagged class's cut is completed (its rest is still an outlier in size at that level
against the other classes given back what the suspect group took from them: a dirty-label attack
draws its poison from the other classes, so a target class's genuine members alone outnumber a
depleted source class by a little; a suspect sample that lies inside another class's cloud is
given back to that class, its source, and the others evenly).

Why the gain in whitened units: a poisoned class holds a group that differs from its genuine
members along a direction no clean class varies along (the trigger); measured in units of the
variation every class shows, that group splits off far more sharply than the natural sub-types of
any clean class.

Why these values: every sample of a flagged class ranks above every sample of a class that is not
(a class's gate is below 1/2 exactly when it is not flagged); among the flagged classes, samples
rank by their posterior alone, so with several flagged classes (two targets, all-to-all) a
suspect sample of a barely flagged class still ranks above the genuine members of a strongly
flagged one; elsewhere the gate orders the classes and the suspect group ranks first within each.
It catches poison that is the MOST susceptible (a trigger that denoising removes: BadNets) and
poison that is the LEAST susceptible (a trigger that survives denoising and saturates the
softmax), because the split is on features, not on the sign of the paper's score. The class gate
needs most label classes clean to estimate the null (the median and MAD across classes); poison in
every class (all-to-all) is left to the shared-trigger test, whose null is per class (unimodal
along a line the class did not choose) and needs no clean class.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ..scores import Scores
from .calibrate import combined, critical, null_gain, size_z as size_z_of, strengths
from .complete import complete_class, drawn_from, lying_inside, member_radii
from .naming import name_in_grown_classes
from .profile import stability_profile
from .shared import shared_trigger
from .sources import nearest_other
from .subgroups import ClassSplit, flipped, min_class_size, split_class
from .whiten import class_axes, class_centroids, class_rows, project, reduction

ALPHA = 0.05  # chance that a data set with no poisoned class has a class flagged (any number of classes)
SHARED = 0.2  # share of alpha spent on the shared-trigger test (shared.py); the class tests get the rest
SPREAD_FLOOR = 0.01  # least spread of log gain: gains within 1% of each other are taken as equal


@dataclass
class Detection:
    """Per-sample values (higher = more likely poisoned, in [0, 1]) aligned with scores.index,
    the posterior of each sample's suspect group, the samples that complete an oversized flagged
    class's cut, and one row per label class."""

    values: np.ndarray  # [N] float64
    posterior: np.ndarray  # [N] float64
    completed: np.ndarray  # [N] bool: added to a flagged class's cut by `complete.complete_class`
    classes: list[dict] = field(default_factory=list)
    profile_names: list[str] = field(default_factory=list)
    settings: dict = field(default_factory=dict)

    @property
    def flagged(self) -> list[int]:
        return [row["class"] for row in self.classes if row["flagged"]]


def _check(scores, components, profile_weight, alpha, reference):
    if not isinstance(scores, Scores):
        raise TypeError(f"scores must be ucfast.Scores (from ucfast.score), got {type(scores).__name__}")
    if isinstance(components, bool) or not isinstance(components, int) or components < 1:
        raise ValueError(f"components must be a positive integer (principal components per class), got {components!r}")
    if isinstance(profile_weight, bool) or not isinstance(profile_weight, (int, float)) or not math.isfinite(
            profile_weight) or profile_weight < 0:
        raise ValueError(f"profile_weight must be a finite number >= 0, got {profile_weight!r}")
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not 0 < alpha < 0.5:
        raise ValueError(f"alpha must be a number in (0, 0.5) (the false-alarm rate per data set), got {alpha!r}")
    if len(scores) == 0:
        raise ValueError("scores hold no samples")
    if scores.features is not None and (scores.features.ndim != 2 or len(scores.features) != len(scores)):
        raise ValueError(f"scores.features must be [N, D] with N = {len(scores)}, got shape {scores.features.shape}")
    for name, value in (("total", scores.total), *((f"component {k}", v) for k, v in scores.components.items())):
        if not np.isfinite(value).all():
            raise ValueError(f"scores.{name} holds non-finite values; re-score the data")
    classes = np.unique(scores.label)
    if classes.size < 3:
        raise ValueError(f"the detector compares label classes and needs at least 3, the scores hold"
                         f" {classes.size} ({classes.tolist()}); use method='ultraclean' with a ratio")
    if reference is not None:
        _check_reference(scores, reference, classes)
    return classes


def _check_reference(scores, reference, classes):
    if not isinstance(reference, Scores):
        raise TypeError(f"reference must be ucfast.Scores of trusted clean samples (from ucfast.score with the same"
                        f" model), got {type(reference).__name__}")
    if scores.features is None or reference.features is None:
        held = "the scores" if scores.features is None else "the reference"
        raise ValueError(f"a reference is compared in feature space, and {held} hold no penultimate features;"
                         " score both with features='auto' (ucfast.score's default) and the same model")
    if reference.features.ndim != 2 or reference.features.shape[1] != scores.features.shape[1]:
        raise ValueError(f"reference.features must be [M, {scores.features.shape[1]}] like the scores' (the same"
                         f" model's penultimate layer), got shape {reference.features.shape}")
    if len(reference.label) != len(reference.features):
        raise ValueError(f"reference holds {len(reference.label)} labels for {len(reference.features)} feature rows")
    unknown = np.setdiff1d(np.unique(reference.label), classes)
    if unknown.size:
        raise ValueError(f"reference labels {unknown.tolist()} are no label class of the scores ({classes.tolist()})")
    if not np.isfinite(reference.features).all():
        raise ValueError("reference.features hold non-finite values; re-score the reference")


def _splits(scores, classes, rows, profile, components, profile_weight, reference, alpha):
    """Per class (in `classes` order): its ClassSplit or None (too small), the split's dimension, the
    reduced features (None without features), {class: the reference's reduced rows} (None
    without a reference), {class: its rows' nearest other classes} (`sources.nearest_other`) and
    the classes' centroids [K, d] (both None without features)."""
    small = min_class_size(components)
    splits = [None] * classes.size
    if scores.features is None:
        for k, c in enumerate(classes):
            if rows[c].size >= small:
                splits[k] = split_class(None, profile[rows[c]])
        return splits, profile.shape[1], None, None, None, None
    reduced = reduction(scores.features)
    x = project(scores.features, *reduced)
    if not np.isfinite(x).all():
        raise ValueError("scores.features hold non-finite values; re-score the data")
    axes = class_axes(x, rows, components, only=[c for c in classes if rows[c].size >= small])
    centroids = class_centroids(x, rows, classes)
    nearest = nearest_other(x, rows, classes, centroids)
    trusted = None
    if reference is not None:
        projected = project(reference.features, *reduced).astype(np.float64)
        trusted = {c: projected[r] for c, r in class_rows(np.asarray(reference.label), classes).items()}
    for k, c in enumerate(classes):
        if c in axes:
            ref = None if trusted is None else (trusted[c] - axes[c].centre) @ axes[c].to_axes
            splits[k] = split_class(axes[c], profile[rows[c]], features=x[rows[c]].astype(np.float64),
                                    others=np.delete(centroids, k, axis=0), profile_weight=profile_weight,
                                    reference=ref, alpha=alpha)
    dim = next((a.axes.shape[1] for a in axes.values()), components)
    return splits, dim, x, trusted, nearest, centroids


def _separations(splits) -> tuple[np.ndarray, np.ndarray]:
    """Per class: the log distance between its two groups and its standard error (at least
    SPREAD_FLOOR). A class too small to split, or whose smaller group is too small to place, takes
    the median of the measured classes: it neither stands out nor widens the others' null."""
    apart = np.array([s.separation if s is not None else math.nan for s in splits])
    noise = np.array([s.separation_se if s is not None else math.nan for s in splits])
    measured = np.isfinite(apart)
    typical = float(np.median(apart[measured])) if measured.any() else 0.0
    return np.where(measured, apart, typical), np.where(measured, np.maximum(noise, SPREAD_FLOOR), SPREAD_FLOOR)


def detect(scores: Scores, *, components: int = 4, profile_weight: float = 0.0, alpha: float = ALPHA,
           reference: Scores | None = None) -> Detection:
    """Score every sample of `scores` for being poisoned, in both directions (see the module doc).

    components: whitened principal components of the penultimate features used per class;
    profile_weight: weight of the stability profile in the split, next to them (0: features alone;
    the profile still names each suspect group's direction); alpha: the chance that a data set with
    no poisoned class gets a class flagged. Works without features (scores from
    `ucfast.score(..., features=False)`) on the per-variant distances alone, less sharply.
    reference: optional Scores of trusted clean samples, scored by the same model with features
    (a few per class suffice); in a class that holds some, they name which group of its split is
    genuine when their likelihood ratio is decisive (subgroups.py); the class tests are unchanged.
    """
    classes = _check(scores, components, profile_weight, alpha, reference)
    profile, names = stability_profile(scores)
    n = len(scores)
    rows = class_rows(scores.label, classes)
    counts = np.array([rows[c].size for c in classes])
    splits, dim, x, trusted, nearest, centroids = _splits(scores, classes, rows, profile, components,
                                                          profile_weight, reference, float(alpha))
    posterior = np.zeros(n)
    gains, t, noise = np.zeros(classes.size), np.zeros(classes.size), np.full(classes.size, SPREAD_FLOOR)
    for k, c in enumerate(classes):
        mean0 = null_gain(int(counts[k]), dim)
        split = splits[k]
        gains[k] = split.gain if split is not None else 0.0
        t[k] = max(math.log(max(gains[k], 1e-12)), mean0)
        if split is not None and gains[k] > 0:
            noise[k] = max(SPREAD_FLOOR, split.gain_se / gains[k])
        if split is not None:
            posterior[rows[c]] = split.posterior
    size = np.log(counts)
    size_floor = 1.0 / math.sqrt(float(np.median(counts)))
    apart, apart_noise = _separations(splits)
    split_z, combined_z, size_z, apart_z = strengths(t, noise, size, size_floor, apart, apart_noise)
    limit, combined_limit, size_alone_limit, _ = critical(int(classes.size), float(alpha) * (1 - SHARED))
    size_limit = critical(int(classes.size), float(alpha))[3]

    def left(k, remaining, sizes=counts):
        """Size z of class k holding `remaining` samples, the other classes holding `sizes`."""
        u = np.log(np.maximum(sizes, 1.0))
        u[k] = math.log(max(remaining, 1))
        return float(size_z_of(u, size_floor)[k])

    radii = None
    given_back = {}  # class position: the other classes' sizes given back what its suspect group took
    if x is not None:
        def resplit(k, mask):
            """Class k's rows under mask split on their own, whitened as the class is (None: too few)."""
            part = rows[classes[k]][mask]
            if part.size < min_class_size(components):
                return None
            axes = class_axes(x, {**rows, classes[k]: part}, components, only=[classes[k]])[classes[k]]
            return split_class(axes, profile[part], features=x[part].astype(np.float64),
                               others=np.delete(centroids, k, axis=0), profile_weight=profile_weight,
                               alpha=float(alpha))

        name_in_grown_classes(splits, classes, rows, nearest, profile, posterior, left, counts, float(alpha), resplit)
        radii = member_radii(x, rows, classes, centroids, float(alpha))
        for k, c in enumerate(classes):
            if splits[k] is not None and splits[k].size:
                taken = lying_inside(x[rows[c][posterior[rows[c]] > 0.5]], centroids, radii, k)[0]
                typical = np.median(np.delete(counts, k))
                given_back[k] = np.minimum(counts + taken, np.maximum(counts, typical))
                size_z[k] = left(k, counts[k], given_back[k])
        combined_z = combined(split_z, size_z, apart_z)

    # In a grown class dirty-label poison is at most the growth: a suspect group past it is the wrong one.
    for k, c in enumerate(classes):
        split = splits[k]
        by_sources = split is not None and split.named_by.startswith("sources")
        if split is not None and size_z[k] >= size_limit and split.named_by != "reference" and not by_sources:
            sizes = given_back.get(k, counts)  # the sizes its growth was measured against
            if left(k, counts[k] - split.size, sizes) <= -size_limit < left(k, split.size, sizes):
                splits[k] = flipped(split, profile[rows[c]], "size")
                posterior[rows[c]] = splits[k].posterior
    # >= 1: flagged by at least one of the three class tests (or, below, by the shared-trigger test)
    strength = np.maximum.reduce([split_z / limit, combined_z / combined_limit, size_z / size_alone_limit])
    by_shared = np.zeros(classes.size, dtype=bool)  # flagged by the shared-trigger test alone
    shared = None
    if x is not None:
        shared = shared_trigger(x, rows, classes, centroids, components,
                                float(alpha) * SHARED, min_class_size(components))
        by_shared = shared.flagged & (strength < 1.0)
        for k in np.flatnonzero(by_shared):  # cut along the line that showed the class's valley
            r, c = shared.posterior[int(k)], classes[k]
            group = r > 0.5
            splits[k] = ClassSplit(r, gains[k], 0.0, int(group.sum()), np.median(profile[rows[c]][group], 0),
                                   named_by="shared-trigger")
            posterior[rows[c]] = r
            strength[k] = shared.strength[k]
    gate = 1.0 / (1.0 + np.exp(-limit * (strength - 1.0)))
    flagged = strength >= 1.0
    completed = np.zeros(n, dtype=bool)
    if x is not None and flagged.any():
        for k, c in enumerate(classes):
            split = splits[k]
            if not (flagged[k] and split is not None) or by_shared[k]:
                continue
            restored = counts + drawn_from(x[rows[c][posterior[rows[c]] > 0.5]], centroids, radii, k)
            if left(k, counts[k] - split.size, restored) >= size_limit:
                typical = float(np.median(np.delete(restored, k)))
                completed[complete_class(x, rows, c, posterior > 0.5, typical, components, profile, float(alpha),
                                         reference=None if trusted is None else trusted[c])] = True
    values = np.zeros(n)
    rows_out = []
    distance_columns = [i for i, name in enumerate(names) if name != "feature_norm"]
    for k, c in enumerate(classes):
        r = rows[c]
        values[r] = (1.0 if flagged[k] else gate[k]) * (1.0 + np.where(completed[r], 1.0, posterior[r])) / 2.0
        split = splits[k]
        row = {"class": int(c), "samples": int(counts[k]), "gain": float(gains[k]), "statistic": float(t[k]),
               "split_z": float(split_z[k]), "size_z": float(size_z[k]), "separation_z": float(apart_z[k]),
               "combined_z": float(combined_z[k]), "strength": float(strength[k]),
               "gate": float(gate[k]), "flagged": bool(flagged[k]), "split": split is not None,
               "shared_p": float(shared.p[k]) if shared is not None else None, "by_shared": bool(by_shared[k]),
               "completed": int(completed[r].sum())}
        if split is not None:
            shift = float(np.mean(split.suspect_profile[distance_columns]))
            row.update({"suspect": split.size, "direction": "stable" if shift < 0 else "susceptible",
                        "named_by": split.named_by,
                        "suspect_profile": dict(zip(names, np.round(split.suspect_profile, 3).tolist()))})
        if reference is not None:
            row.update({"reference_rows": int(np.sum(np.asarray(reference.label) == c)),
                        "reference_evidence": float(split.reference_evidence) if split is not None else math.nan,
                        "by_reference": bool(split is not None and split.by_reference)})
        rows_out.append(row)
    return Detection(values=values, posterior=posterior, completed=completed, classes=rows_out, profile_names=names,
                     settings={"components": components, "profile_weight": profile_weight, "alpha": float(alpha),
                               "critical": limit, "combined_critical": combined_limit,
                               "size_alone_critical": size_alone_limit, "size_critical": size_limit,
                               "shared_level": float(alpha) * SHARED,
                               "features": scores.features is not None, "min_class_size": min_class_size(components),
                               "reference": None if reference is None else len(reference)})
