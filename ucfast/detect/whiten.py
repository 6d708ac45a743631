"""Penultimate features in units of natural within-class variation.

Most of what varies inside a clean class (pose, brightness, a light or dark foreground, a sub-type)
varies the same way inside the other classes. A trigger adds a direction that no clean class
varies along. So each class is whitened by the pooled within-class covariance of every OTHER
class (the class's own poison cannot inflate it and hide), then projected on its own top
principal axes in that whitened space: a poison group then carries most of the class's variance
and splits off cleanly, while natural sub-types shrink to the size they have everywhere.

Everything runs in the top DIMS principal axes of the whole data set (`reduce`: one D x D
covariance accumulated over chunks of rows, so float16 or memory-mapped features of any length
are never copied whole; the result is float32 [N, <= DIMS]), then one DIMS x DIMS
eigendecomposition per class.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

DIMS = 256  # principal axes of the whole data set kept before whitening
RIDGE = 1e-3  # added to the pooled covariance, as a share of its mean eigenvalue
NATURAL = 16  # directions of the other classes' largest within-class variation, for `Whitened.natural`
CHUNK = 16384  # rows per step when reading the features


def _chunks(n: int):
    for start in range(0, n, CHUNK):
        yield slice(start, min(start + CHUNK, n))


def read_rows(features, rows: slice) -> np.ndarray:
    """float32 copy of features[rows] (a contiguous slice). A memory-mapped .npy is read from its
    file instead of through the map, so the pages read do not stay resident in this process."""
    if isinstance(features, np.memmap) and features.flags.c_contiguous and features.ndim == 2:
        width = features.shape[1]
        start = features.offset + rows.start * width * features.dtype.itemsize
        block = np.fromfile(features.filename, dtype=features.dtype, count=(rows.stop - rows.start) * width,
                            offset=start)
        return block.reshape(-1, width).astype(np.float32)
    return np.asarray(features[rows], dtype=np.float32)


def reduction(features) -> tuple[np.ndarray, np.ndarray | None]:
    """(mean [D] float32, axes [D, DIMS] float32 or None when D <= DIMS): the data set's mean and top
    principal axes, for `project`. features: [N, D] array-like (float16/32/64, memmap)."""
    n, d = features.shape
    mean = np.zeros(d)
    for rows in _chunks(n):
        mean += read_rows(features, rows).sum(0, dtype=np.float64)
    mean = (mean / max(n, 1)).astype(np.float32)
    if d <= DIMS:
        return mean, None
    scatter = np.zeros((d, d))
    for rows in _chunks(n):
        block = read_rows(features, rows) - mean
        scatter += block.T @ block
    return mean, np.linalg.eigh(scatter)[1][:, ::-1][:, :DIMS].astype(np.float32)


def project(features, mean: np.ndarray, axes: np.ndarray | None) -> np.ndarray:
    """float32 [N, min(D, DIMS)]: features [N, D] centred on `mean` and, when axes is not None,
    on those axes (`reduction`)."""
    n = features.shape[0]
    out = np.empty((n, features.shape[1] if axes is None else axes.shape[1]), dtype=np.float32)
    for rows in _chunks(n):
        block = read_rows(features, rows) - mean
        out[rows] = block if axes is None else block @ axes
    return out


def reduce(features) -> np.ndarray:
    """float32 [N, min(D, DIMS)]: the centred features on the data set's top principal axes
    (all axes, unrotated, when D <= DIMS). features: [N, D] array-like (float16/32/64, memmap)."""
    return project(features, *reduction(features))


def class_rows(label: np.ndarray, classes: np.ndarray) -> dict:
    """{class: its row positions}, from one stable sort of the labels."""
    order = np.argsort(label, kind="stable")
    bounds = np.searchsorted(label[order], classes, side="left"), np.searchsorted(label[order], classes, side="right")
    return {c: order[lo:hi] for c, lo, hi in zip(classes, *bounds)}


def class_centroids(x: np.ndarray, rows: dict, classes) -> np.ndarray:
    """[K, d] float64 mean of each class's rows of x, in `classes` order."""
    return np.stack([x[rows[c]].mean(0) for c in classes]).astype(np.float64)


def nearest_other_centroid(block: np.ndarray, centroids: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """([m] position of the centroid [K, d] nearest to each row of block [m, d] other than
    centroid k, [m] the squared distance to it)."""
    g = block.astype(np.float64)
    dist = (g ** 2).sum(1)[:, None] + (centroids ** 2).sum(1)[None, :] - 2.0 * g @ centroids.T
    dist[:, k] = np.inf
    nearest = dist.argmin(1)
    return nearest, dist[np.arange(len(g)), nearest]


@dataclass
class Whitened:
    """One class in units of the other classes' within-class variation: `axes` [n, r], its samples
    on its own top r principal axes there; `natural` [n, m], its (centred) samples along the m
    directions the other classes vary along most, each of unit variance in those classes; `centre`
    [d] and `to_axes` [d, r]: axes = (rows of x - centre) @ to_axes, for rows from elsewhere."""

    axes: np.ndarray
    natural: np.ndarray
    centre: np.ndarray
    to_axes: np.ndarray


def class_axes(x: np.ndarray, rows: dict, components: int, only=None) -> dict:
    """{class: Whitened}, r <= components, whitened by the other classes' pooled within-class
    covariance. x: `reduce`d features [N, d]; rows: `class_rows`; only: the classes to return
    (default: all)."""
    d = x.shape[1]
    scatter = np.zeros((d, d))
    own = {}
    for c, r in rows.items():
        block = x[r].astype(np.float64)
        block -= block.mean(0)
        own[c] = block.T @ block
        scatter += own[c]
    total = sum(r.size for r in rows.values())
    out = {}
    for c in rows if only is None else only:
        cov = (scatter - own[c]) / max(total - rows[c].size, 1)
        cov += RIDGE * max(float(np.trace(cov)) / d, 1e-12) * np.eye(d)
        eigval, eigvec = np.linalg.eigh(cov)
        whitening = eigvec / np.sqrt(np.maximum(eigval, 1e-12))
        axes = np.linalg.eigh(whitening.T @ own[c] @ whitening)[1][:, ::-1][:, :components]  # top principal axes
        block = x[rows[c]].astype(np.float64)
        centre = block.mean(0)
        white = (block - centre) @ whitening
        out[c] = Whitened(white @ axes, white[:, ::-1][:, :NATURAL].copy(),  # a copy: the full block is not kept
                          centre, whitening @ axes)
    return out
