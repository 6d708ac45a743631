"""Per label class: split the samples into two groups and say which one looks poisoned.

With features, the samples of one class are described by their top principal components in
units of natural within-class variation (`whiten.class_axes`, scaled together by the spread of
the first, so their relative variances are kept), plus, when `profile_weight` > 0, their
stability profile standardised within the class. A diagonal two-Gaussian mixture splits them
(`mixture.split_two`). The suspect group is the one whose feature centroid lies further from the
nearest centroid of another class: poison is a concept of its own (the trigger), while the
genuine members of a class sit at the usual distance from the classes that resemble them. This
holds whichever group is larger (clean-label poison can be most of its class) and whichever way
the poison's stability goes. Without features, the split runs on the stability profile alone and
the suspect group is the one whose median profile lies further from the typical sample of the
whole data set (either direction: more susceptible or more stable).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .mixture import split_two


@dataclass
class ClassSplit:
    """The split of one class: posterior [n] of the suspect group, the mixture gain (per sample,
    over one Gaussian), the suspect group's size and the medians of the global stability profile in
    the suspect group."""

    posterior: np.ndarray
    gain: float
    size: int
    suspect_profile: np.ndarray


def min_class_size(components: int) -> int:
    """The fewest samples a class needs to be split."""
    return max(2 * (components + 4), 16)


def split_class(axes: np.ndarray | None, features: np.ndarray | None, profile: np.ndarray, *,
                others: np.ndarray | None = None, profile_weight: float = 0.0) -> ClassSplit:
    """Split one class. axes [n, r]: its whitened principal components (or None without features);
    features [n, D]: its raw features, with others [K-1, D] the centroids of the other classes (both
    required with axes); profile [n, P]: the global robust-z stability profile."""
    if axes is not None and (features is None or others is None or len(others) == 0):
        raise ValueError("split_class needs the raw features and the centroids of the other classes with axes")
    parts = []
    if axes is not None:
        scale = axes[:, 0].std() if axes.size else 0.0
        parts.append(axes / scale if scale > 0 else axes)
    if axes is None or profile_weight > 0:
        std = profile.std(0)
        weight = 1.0 if axes is None else profile_weight
        parts.append(weight * (profile - profile.mean(0)) / np.where(std > 0, std, 1.0))
    posterior, gain = split_two(np.concatenate(parts, axis=1))
    group = posterior > 0.5
    if group.all() or not group.any():
        return ClassSplit(np.zeros(len(profile)), 0.0, 0, np.median(profile, 0))
    if axes is not None:
        centroid1 = posterior @ features / posterior.sum()
        centroid0 = (1.0 - posterior) @ features / (1.0 - posterior).sum()
        flip = np.linalg.norm(others - centroid0, axis=1).min() > np.linalg.norm(others - centroid1, axis=1).min()
    else:
        flip = np.linalg.norm(np.median(profile[~group], 0)) > np.linalg.norm(np.median(profile[group], 0))
    if flip:
        posterior, group = 1.0 - posterior, ~group
    return ClassSplit(posterior, gain, int(group.sum()), np.median(profile[group], 0))
