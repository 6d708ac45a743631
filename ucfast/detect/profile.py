"""The stability profile of every sample: how far each denoised variant moves the model's output,
and how strongly the model answers, on one robust scale.

    profile[:, v]  = robust z of log(distance of variant v)      (one column per denoiser)
    profile[:, -1] = robust z of log ||penultimate features||     (only when features were kept)

Robust z: (x - median) / (1.4826 MAD) over all scored samples, so a column reads "how many
spreads above or below the typical sample". A trigger that denoising removes gives large
distances; a trigger that survives denoising gives a saturated, stable output: small distances
and, since the model answers it with strong activations, a large feature norm.
"""
from __future__ import annotations

import numpy as np

from ..scores import Scores
from .whiten import CHUNK, read_rows

FLOOR = 1e-7  # distances below this (exactly stable outputs) are treated as equal


def robust_z(x: np.ndarray) -> np.ndarray:
    """(x - median) / (1.4826 MAD) per column of x [N, D] (or [N]); a zero MAD falls back to the std,
    then to 1."""
    med = np.median(x, axis=0)
    mad = 1.4826 * np.median(np.abs(x - med), axis=0)
    std = np.std(x, axis=0)
    scale = np.where(mad > 0, mad, np.where(std > 0, std, 1.0))
    return (x - med) / scale


def stability_profile(scores: Scores) -> tuple[np.ndarray, list[str]]:
    """[N, V (+1)] float64 profile and the name of each column."""
    names = list(scores.components)
    columns = [np.log(np.maximum(scores.components[k].astype(np.float64), 0.0) + FLOOR) for k in names]
    if scores.features is not None:
        feats = scores.features
        norm = np.concatenate([np.linalg.norm(read_rows(feats, slice(s, min(s + CHUNK, len(feats)))), axis=1)
                               for s in range(0, len(feats), CHUNK)]).astype(np.float64)
        columns.append(np.log(norm + FLOOR))
        names.append("feature_norm")
    return robust_z(np.stack(columns, axis=1)), names
