"""Completing the cut of a flagged class that stays too large after its suspect group is removed.

Dirty-label poison from many source classes does not always split off as one group: the samples
whose content lies far from the target class's split off, those that look like it stay with the
clean members (WaNet: warped bags and shoes split off from a T-shirt class, warped shirts and
dresses stay). When what is left of a flagged class is still an outlier in size (the detector
decides: its size z against the other classes, each given back the samples of the suspect group it
lost, past one class's critical value; a dirty-label sample keeps the content of the class it was
taken from, so one that lies inside another class's cloud goes back to it, its two sources for TaCT,
and the others are shared out evenly, as for an all-to-one attack), the left-over samples are split
again, in two descriptions side by side: their own top whitened axes (the trigger, once the far
group is gone, is what varies most there beyond the other classes' variation) and how far each one's
stability profile lies toward the suspect group's (the trigger moves the model's output under
denoising the same way whatever the content: the left-over poison answers the denoisers as the group
that split off does, even where its content keeps it with the genuine members in features). The
excess over the median size of the other classes, so given back, is taken from the group of that
split whose stability lies further toward the suspect group's (for the same reason), where the two
groups differ in it beyond what noise gives at level alpha (a two-sided z of their mean difference;
where they do not, the profile tells nothing and the group closer in size to the excess is taken),
most likely first. Not by size alone: the left-over poison can share its group with a natural
sub-type of the class (TaCT with a coat target: the shirts from one source sit beside the coats
that look like shirts), and the other sub-type alone is then the group closer in size to the excess.
"""
from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np

from .mixture import reference_evidence, split_two
from .whiten import class_axes, nearest_other_centroid


def member_radii(x: np.ndarray, rows: dict, classes, centroids: np.ndarray, alpha: float) -> np.ndarray:
    """[K] the squared distance from its centroid within which 1 - alpha of each class's own rows lie."""
    return np.array([np.quantile(((x[rows[c]] - centroids[i]) ** 2).sum(1), 1.0 - alpha)
                     for i, c in enumerate(classes)])


def lying_inside(group: np.ndarray, centroids: np.ndarray, radii: np.ndarray, k: int) -> tuple[np.ndarray, int]:
    """([K] how many rows of group [m, d] lie inside each class other than k: within the member
    radius (`member_radii`) of the nearest other class's centroid; how many lie inside none)."""
    if len(group) == 0:
        return np.zeros(len(centroids)), 0
    nearest, dist = nearest_other_centroid(group, centroids, k)
    inside = dist <= radii[nearest]
    return np.bincount(nearest[inside], minlength=len(centroids)).astype(np.float64), int((~inside).sum())


def drawn_from(group: np.ndarray, centroids: np.ndarray, radii: np.ndarray, k: int) -> np.ndarray:
    """[K] how many of the suspect group's rows group [m, d] each other class lost to class k (0 at k).
    A dirty-label sample keeps the content of the class it was taken from: one that lies inside the
    nearest other class (`lying_inside`) is counted to that class; one that lies inside none came
    from no class its features tell, and is shared out evenly."""
    share, outside = lying_inside(group, centroids, radii, k)
    share += outside / (len(centroids) - 1)
    share[k] = 0.0
    return share


def complete_class(x: np.ndarray, rows: dict, c, suspect: np.ndarray, median_size: float,
                   components: int, profile: np.ndarray, alpha: float,
                   reference: np.ndarray | None = None) -> np.ndarray:
    """Rows [m] (into the data set) the cut adds to class c: the rows of c outside the suspect mask
    [N] beyond median_size, the most likely members of the left-over group (module doc) first.
    x: `whiten.reduce`d features; rows: `whiten.class_rows`; profile [N, P]: the stability profile;
    alpha: the level at which the two groups of the left-over split must differ in stability for
    it to choose between them; reference [m, d]: trusted genuine rows of class c in x's units, which
    choose instead where decisive (their likelihood ratio between the two groups' Gaussians on the
    left-over's axes reaches 1 / alpha, as in `subgroups.split_class`)."""
    rest = rows[c][~suspect[rows[c]]]
    excess = int(round(rest.size - median_size))
    if excess < 1:
        return np.zeros(0, dtype=np.int64)
    whitened = class_axes(x, {**rows, c: rest}, components, only=[c])[c]
    axes = whitened.axes
    scale = axes[:, 0].std()
    if not scale > 0:
        return np.zeros(0, dtype=np.int64)
    y = np.column_stack([axes / scale, _toward(profile[rest], profile[rows[c][suspect[rows[c]]]])])
    posterior = split_two(y)[0]
    toward = y[:, -1]
    lean_in = posterior @ toward / max(posterior.sum(), 1e-12)
    lean_out = (1.0 - posterior) @ toward / max((1.0 - posterior).sum(), 1e-12)
    noise = math.sqrt(1.0 / max(posterior.sum(), 1e-12) + 1.0 / max((1.0 - posterior).sum(), 1e-12))
    evidence, decided = 0.0, False
    if reference is not None and len(reference):  # > 0: the reference looks like the posterior's group
        placed = (reference - whitened.centre) @ whitened.to_axes / scale
        evidence, decided = reference_evidence(y[:, :-1], posterior, placed, alpha)
    if decided:
        flip = evidence > 0
    elif abs(lean_out - lean_in) > NormalDist().inv_cdf(1.0 - alpha / 2.0) * noise:  # toward is in units of its spread
        flip = lean_out > lean_in
    else:
        flip = abs((1.0 - posterior).sum() - excess) < abs(posterior.sum() - excess)
    if flip:
        posterior = 1.0 - posterior
    if posterior.sum() == 0 or posterior.sum() == posterior.size:
        return np.zeros(0, dtype=np.int64)
    inside, outside = posterior @ y / posterior.sum(), (1.0 - posterior) @ y / (1.0 - posterior).sum()
    order = np.lexsort((-(y @ (inside - outside)), -posterior))  # saturated posteriors: the furthest first
    return rest[order[:excess]]


def _toward(rest: np.ndarray, group: np.ndarray) -> np.ndarray:
    """[n] how far each row of the left-over profile [n, P] lies toward the suspect group's mean
    profile [m, P], in units of its own spread (columns standardised within the left-over rows);
    zeros where the two do not differ."""
    spread = rest.std(0)
    spread = np.where(spread > 0, spread, 1.0)
    toward = ((rest - rest.mean(0)) / spread) @ ((group.mean(0) - rest.mean(0)) / spread)
    scale = toward.std()
    return toward / scale if scale > 0 else np.zeros(len(rest))
