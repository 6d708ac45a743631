"""Per label class: split the samples into two groups and say which one looks poisoned.

The samples of one class are described by the top principal components of their penultimate
features (scaled together by the spread of the first, so their relative variances are kept) and
their stability profile (standardised within the class, weighted by `profile_weight`). A diagonal
two-Gaussian mixture splits them (`mixture.split_two`). The group whose median profile lies
further from the typical sample of the whole data set (either direction: more susceptible or
more stable) is the suspect group. A class that holds poison has a strongly bimodal cloud (a
large mixture gain); a clean class has a weaker split of its natural sub-types.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .mixture import split_two


@dataclass
class ClassSplit:
    """The split of one class: posterior [n] of the suspect group, the mixture gain, group size and
    the medians of the global stability profile in the suspect group and in the rest."""

    posterior: np.ndarray
    gain: float
    size: int
    suspect_profile: np.ndarray
    rest_profile: np.ndarray


def min_class_size(components: int) -> int:
    """The fewest samples a class needs to be split."""
    return max(2 * (components + 4), 16)


def split_class(features: np.ndarray | None, profile: np.ndarray, *, components: int = 8,
                profile_weight: float = 0.5) -> ClassSplit:
    """Split one class. features [n, D] or None; profile [n, P] (global robust z)."""
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
        return ClassSplit(np.zeros(len(profile)), 0.0, 0, med, med)
    med1, med0 = np.median(profile[group], 0), np.median(profile[~group], 0)
    if np.linalg.norm(med0) > np.linalg.norm(med1):
        posterior, group, med1, med0 = 1.0 - posterior, ~group, med0, med1
    return ClassSplit(posterior, gain, int(group.sum()), med1, med0)
