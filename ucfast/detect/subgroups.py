"""Per label class: split the samples into two groups and say which one looks poisoned.

The samples of one class are described by the top principal components of their penultimate
features (scaled together by the spread of the first, so their relative variances are kept) and
their stability profile (standardised within the class, weighted by `profile_weight`). A diagonal
two-Gaussian mixture splits them (`mixture.split_two`). The suspect group is the one whose
feature centroid lies further from the nearest centroid of another class: poison is a concept of
its own (the trigger), while the genuine members of a class sit at the usual distance from the
classes that resemble them. This holds whichever group is larger (clean-label poison can be most
of its class) and whichever way the poison's stability goes. Without features, the suspect group
is the one whose median profile lies further from the typical sample of the whole data set
(either direction: more susceptible or more stable). A class that holds poison has a strongly
bimodal cloud (a large mixture gain) whose groups lie far apart in feature space (a large offset
between their centroids); a clean class has a weaker, closer split of its natural sub-types.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .mixture import split_two


@dataclass
class ClassSplit:
    """The split of one class: posterior [n] of the suspect group, the mixture gain, the distance
    between the two groups' (posterior-weighted) feature centroids (0 without features), group size
    and the medians of the global stability profile in the suspect group and in the rest."""

    posterior: np.ndarray
    gain: float
    offset: float
    size: int
    suspect_profile: np.ndarray
    rest_profile: np.ndarray


def min_class_size(components: int) -> int:
    """The fewest samples a class needs to be split."""
    return max(2 * (components + 4), 16)


def split_class(features: np.ndarray | None, profile: np.ndarray, *, others: np.ndarray | None = None,
                components: int = 8, profile_weight: float = 0.5) -> ClassSplit:
    """Split one class. features [n, D] or None; profile [n, P] (global robust z); others [K-1, D]:
    the feature centroids of the other classes, required with features."""
    if features is not None and (others is None or len(others) == 0):
        raise ValueError("split_class needs the centroids of the other classes (others) when features are given")
    parts = []
    if features is not None:
        centred = features - features.mean(0)
        vt = np.linalg.svd(centred, full_matrices=False)[2][:components]
        pcs = centred @ vt.T  # [n, r]
        scale = pcs[:, 0].std() if pcs.size else 0.0
        parts.append(pcs / scale if scale > 0 else pcs)
    std = profile.std(0)
    parts.append(profile_weight * (profile - profile.mean(0)) / np.where(std > 0, std, 1.0))
    posterior, gain = split_two(np.concatenate(parts, axis=1))
    group = posterior > 0.5
    if group.all() or not group.any():
        med = np.median(profile, 0)
        return ClassSplit(np.zeros(len(profile)), 0.0, 0.0, 0, med, med)
    offset = 0.0
    if features is not None:
        centroid1 = posterior @ features / posterior.sum()
        centroid0 = (1.0 - posterior) @ features / (1.0 - posterior).sum()
        offset = float(np.linalg.norm(centroid1 - centroid0))
        nearest1 = np.linalg.norm(others - centroid1, axis=1).min()
        nearest0 = np.linalg.norm(others - centroid0, axis=1).min()
        flip = nearest0 > nearest1
    else:
        flip = np.linalg.norm(np.median(profile[~group], 0)) > np.linalg.norm(np.median(profile[group], 0))
    if flip:
        posterior, group = 1.0 - posterior, ~group
    med1, med0 = np.median(profile[group], 0), np.median(profile[~group], 0)
    return ClassSplit(posterior, gain, offset, int(group.sum()), med1, med0)
