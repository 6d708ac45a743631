"""Penultimate features in units of natural within-class variation.

Most of what varies inside a clean class (pose, brightness, a light or dark foreground, a sub-type)
varies the same way inside the other classes. A trigger adds a direction that no clean class
varies along. So each class is whitened by the pooled within-class covariance of every OTHER
class (the class's own poison cannot inflate it and hide), then projected on its own top
principal axes in that whitened space: a poison group then carries most of the class's variance
and splits off cleanly, while natural sub-types shrink to the size they have everywhere.

To keep this cheap for wide features and many classes, everything runs in the top DIMS principal
axes of the whole data set (one eigendecomposition of a D x D covariance, then one of a
DIMS x DIMS matrix per class).
"""
from __future__ import annotations

import numpy as np

DIMS = 256  # principal axes of the whole data set kept before whitening
RIDGE = 1e-3  # added to the pooled covariance, as a share of its mean eigenvalue


def _reduce(features: np.ndarray) -> np.ndarray:
    centred = features - features.mean(0)
    if centred.shape[1] <= DIMS:
        return centred
    _, eigvec = np.linalg.eigh(centred.T @ centred)
    return centred @ eigvec[:, ::-1][:, :DIMS]


def class_axes(features: np.ndarray, label: np.ndarray, classes: np.ndarray, components: int,
               only=None) -> dict:
    """{class: [n_c, r] float64}: each class's samples on its top r <= components principal axes
    after whitening by the other classes' pooled within-class covariance. features [N, D] float64;
    only: the classes to return (default: all)."""
    x = _reduce(features)
    residual = np.empty_like(x)
    rows = {}
    for c in classes:
        rows[c] = np.flatnonzero(label == c)
        residual[rows[c]] = x[rows[c]] - x[rows[c]].mean(0)
    scatter = residual.T @ residual
    out = {}
    for c in classes if only is None else only:
        own = residual[rows[c]]
        others = len(label) - len(own)
        cov = (scatter - own.T @ own) / max(others, 1)
        cov += RIDGE * max(float(np.trace(cov)) / len(cov), 1e-12) * np.eye(len(cov))
        eigval, eigvec = np.linalg.eigh(cov)
        white = own @ (eigvec / np.sqrt(np.maximum(eigval, 1e-12)))
        axes = np.linalg.svd(white, full_matrices=False)[2][:components]
        out[c] = white @ axes.T
    return out
