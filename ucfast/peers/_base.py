"""What the three peers share: their result, the checks on their input, and a 2-means."""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ..scores import Scores

ROWS_PER_CHUNK = 8192  # rows converted to float64 at a time when a peer streams over all features


@dataclass
class PeerResult:
    """One peer detector's output, aligned with the scores it ran on (entry i is scores entry i).

    values[i]: how suspect sample i is, higher = more suspect, comparable across label classes so
    that one global ranking (an AUROC over the whole set) means something.
    removed[i]: whether the peer's own removal rule, as its authors set it, removes sample i.
    info: the settings used and the per-class statistics behind both."""

    values: np.ndarray  # [N] float64
    removed: np.ndarray  # [N] bool
    info: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Checked:
    """Validated input: the features as given (possibly float16 or a memmap), int64 labels, and
    (label, ascending positions) for every label class, smallest label first."""

    features: np.ndarray
    label: np.ndarray
    classes: list


def checked(scores, what: str = "scores") -> Checked:
    """Validate `scores` for a peer (TypeError / ValueError naming the problem)."""
    if not isinstance(scores, Scores):
        raise TypeError(f"{what} must be ucfast.Scores (from ucfast.score), got {type(scores).__name__}")
    feats = scores.features
    if feats is None:
        raise ValueError(f"{what}.features is None: the peers work on penultimate features; score with"
                         " ucfast.score(..., features=True)")
    if not isinstance(feats, np.ndarray):
        raise TypeError(f"{what}.features must be a numpy array (or memmap), got {type(feats).__name__}")
    if not np.issubdtype(feats.dtype, np.floating):
        raise TypeError(f"{what}.features must hold floats, got dtype {feats.dtype}")
    n = len(scores)
    if feats.ndim != 2 or feats.shape[0] != n or feats.shape[1] == 0:
        raise ValueError(f"{what}.features must be [N, D] with N = {n} (len({what})) and D >= 1, got shape"
                         f" {feats.shape}")
    label = np.asarray(scores.label)
    if label.shape != (n,):
        raise ValueError(f"{what}.label must be [N] with N = {n}, got shape {label.shape}")
    if not np.issubdtype(label.dtype, np.integer):
        raise TypeError(f"{what}.label must hold integers, got dtype {label.dtype}")
    for start in range(0, n, ROWS_PER_CHUNK):
        if not np.isfinite(feats[start:start + ROWS_PER_CHUNK]).all():
            raise ValueError(f"{what}.features holds non-finite values (first in rows {start}.."
                             f"{min(start + ROWS_PER_CHUNK, n) - 1})")
    values, inverse, counts = np.unique(label.astype(np.int64), return_inverse=True, return_counts=True)
    if values.size < 2:
        raise ValueError(f"the peers compare label classes and need at least 2, {what} hold {values.size}"
                         f" ({values.tolist()})")
    order = np.argsort(inverse, kind="stable")
    positions = np.split(order, np.cumsum(counts)[:-1])
    return Checked(feats, label.astype(np.int64), [(int(v), p) for v, p in zip(values, positions)])


def rows(features: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """features[positions] as a new float64 array."""
    return np.asarray(features[positions], dtype=np.float64)


def centred_classes(data: Checked):
    """(label, positions, that class's features as float64 minus their mean) for every class."""
    for label, pos in data.classes:
        x = rows(data.features, pos)
        yield label, pos, x - x.mean(0)


def finite_number(name: str, value, low: float, high: float, *, low_open: bool = False) -> float:
    """`value` as a finite float in [low, high] (or (low, high] with low_open), else a ValueError
    (a TypeError for a non-number) naming it."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a number, got {type(value).__name__}")
    value = float(value)
    below = value <= low if low_open else value < low
    if not math.isfinite(value) or below or value > high:
        opening, closing = "(" if low_open else "[", ")" if high == math.inf else "]"
        raise ValueError(f"{name} must be in {opening}{low:g}, {high:g}{closing}, got {value!r}")
    return value


def positive_int(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def seed_value(seed) -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be an integer >= 0, got {seed!r}")
    return int(seed)


def two_means(x: np.ndarray, group: np.ndarray, max_iter: int) -> tuple[np.ndarray, float]:
    """Lloyd's 2-means on x [n, d] from the boolean assignment `group`: (assignment, within-group sum
    of squares). Stops when the assignment is stable, after max_iter rounds, or when a group empties
    (then the within sum is the total one: no split)."""
    for _ in range(max_iter):
        if group.all() or not group.any():
            break
        c1, c0 = x[group].mean(0), x[~group].mean(0)
        new = x @ (c1 - c0) > (c1 @ c1 - c0 @ c0) / 2.0  # nearer c1: the bisecting hyperplane's side
        if (new == group).all():
            break
        group = new
    if group.all() or not group.any():
        return group, float(((x - x.mean(0)) ** 2).sum())
    within = ((x[group] - x[group].mean(0)) ** 2).sum() + ((x[~group] - x[~group].mean(0)) ** 2).sum()
    return group, float(within)
