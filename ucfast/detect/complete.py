"""Completing the cut of a flagged class that stays too large after its suspect group is removed.

Dirty-label poison from many source classes does not always split off as one group: the samples
whose content lies far from the target class's split off, those that look like it stay with the
clean members (WaNet: warped bags and shoes split off from a T-shirt class, warped shirts and
dresses stay). When what is left of a flagged class is still an outlier in size (the detector
decides: its size z against the other classes, each given back its share of the suspect group,
past one class's critical value), the left-over samples are put on their own top whitened axis
(the trigger, once the far group is gone, is what varies most there beyond the other classes'
variation) and their excess over the median class size is taken from the end of that axis where
the mixture's group closest in size to the excess lies.
"""
from __future__ import annotations

import numpy as np

from .mixture import split_two
from .whiten import class_axes


def complete_class(x: np.ndarray, rows: dict, c, suspect: np.ndarray, median_size: float,
                   components: int) -> np.ndarray:
    """Rows [m] (into the data set) the cut adds to class c: the rows of c outside the suspect mask
    [N] beyond median_size, from the far end of their top whitened axis. x: `whiten.reduce`d
    features; rows: `whiten.class_rows`."""
    rest = rows[c][~suspect[rows[c]]]
    excess = int(round(rest.size - median_size))
    if excess < 1:
        return np.zeros(0, dtype=np.int64)
    axes = class_axes(x, {**rows, c: rest}, components, only=[c])[c].axes
    scale = axes[:, 0].std()
    if not scale > 0:
        return np.zeros(0, dtype=np.int64)
    posterior = split_two(axes / scale)[0]
    if abs((1.0 - posterior).sum() - excess) < abs(posterior.sum() - excess):
        posterior = 1.0 - posterior
    if posterior.sum() == 0 or posterior.sum() == posterior.size:
        return np.zeros(0, dtype=np.int64)
    mean_in = posterior @ axes[:, 0] / posterior.sum()
    mean_out = (1.0 - posterior) @ axes[:, 0] / (1.0 - posterior).sum()
    order = np.argsort(-np.sign(mean_in - mean_out) * axes[:, 0], kind="stable")
    return rest[order[:excess]]
