"""Activation Clustering (Chen, Carvalho, Baracaldo, Ludwig, Edwards, Lee, Molloy and Srivastava,
"Detecting Backdoor Attacks on Deep Neural Networks by Activation Clustering", 2018).

Per label class: reduce the class's (centred) last-hidden-layer activations to 10 dimensions, split
them with k-means into k = 2 clusters, and call the smaller cluster poison when it holds at most
35% of the class (the authors' relative-size analysis). Dirty-label poison is activated by its
trigger, not by the features of the class it is labelled with, so it forms its own small cluster;
a clean class splits into two halves of similar size.

The reduction. The authors use independent component analysis (FastICA) to 10 components. FastICA
first whitens the data onto its top principal axes (unit variance each), then ROTATES that whitened
space (its unmixing matrix is orthogonal there). K-means depends only on Euclidean distances, which
a rotation keeps, so k-means on the 10 independent components is k-means on the 10 whitened
principal components; this module clusters the latter, and so reproduces the authors' clustering
without running the ICA (only k-means' random starts differ). Plain, unwhitened PCA would NOT be
the same: it lets the class's largest natural axes dominate the split.

K-means: greedy k-means++ starts, `n_init` of them (10), Lloyd's iterations to convergence (at most
300), the lowest within-cluster sum of squares kept: the defaults of scikit-learn's KMeans, which the
authors' code ran. One start is added: the 2-means split of the top principal component alone,
then refined in all dims. In whitened space a small far cluster is barely likelier than any point
to seed k-means++ (every axis has unit variance), so the random starts often settle in a split of
the clean bulk whose sum of squares is HIGHER than the poison split's; the extra start only ever
lowers k-means' own objective.
"""
from __future__ import annotations

import numpy as np

from ._base import PeerResult, centred_classes, checked, finite_number, positive_int, seed_value, two_means

MAX_ITER = 300  # Lloyd rounds per start
SILHOUETTE_SAMPLES = 1000  # per class: the silhouette in info is the mean over this many samples at most
RANK_TOL = 1e-10  # principal axes with variance below this share of the top one are dropped
LOCAL_TRIALS = 2  # greedy k-means++ (scikit-learn's default, 2 + ln k): the best of 2 draws for the 2nd centre


def _whitened_components(x: np.ndarray, dims: int) -> np.ndarray:
    """The centred x [n, D] on its top `dims` principal axes, each scaled to unit variance."""
    n = x.shape[0]
    if n >= x.shape[1]:
        vals, vecs = np.linalg.eigh(x.T @ x)
        vals, vecs = vals[::-1][:dims], vecs[:, ::-1][:, :dims]
        keep = vals > RANK_TOL * max(vals[0], 0.0)
        return (x @ vecs[:, keep]) / np.sqrt(vals[keep] / n)
    vals, vecs = np.linalg.eigh(x @ x.T)
    vals, vecs = vals[::-1][:dims], vecs[:, ::-1][:, :dims]
    keep = vals > RANK_TOL * max(vals[0], 0.0)
    return vecs[:, keep] * np.sqrt(n)


def _kmeans_two(z: np.ndarray, n_init: int, rng: np.random.Generator) -> np.ndarray | None:
    """Lloyd 2-means of z [n, d] (columns: principal components, top first) from n_init greedy
    k-means++ starts and the 2-means split of the top component alone; the assignment (True for
    one cluster) of the lowest within sum of squares, None when no start splits."""
    starts = [two_means(z[:, :1], z[:, 0] > 0, MAX_ITER)[0]]
    for _ in range(n_init):
        first = z[rng.integers(z.shape[0])]
        d2 = ((z - first) ** 2).sum(1)
        trials = z[rng.choice(z.shape[0], size=LOCAL_TRIALS, p=d2 / d2.sum())]
        trial_d2 = ((z[None, :, :] - trials[:, None, :]) ** 2).sum(2)
        starts.append(trial_d2[np.argmin(np.minimum(trial_d2, d2).sum(1))] < d2)
    best, best_within = None, np.inf
    for start in starts:
        group, within = two_means(z, start, MAX_ITER)
        if within < best_within and group.any() and not group.all():
            best, best_within = group, within
    return best


def _silhouette(z: np.ndarray, small: np.ndarray) -> float:
    """Mean silhouette of the 2-cluster assignment `small` over z [m, d] (nan if a cluster is absent)."""
    if small.all() or not small.any():
        return float("nan")
    sq = (z ** 2).sum(1)
    dist = np.sqrt(np.maximum(sq[:, None] + sq[None, :] - 2.0 * (z @ z.T), 0.0))
    n_small = small.sum()
    to_small, to_big = dist[:, small].sum(1), dist[:, ~small].sum(1)
    own_size = np.where(small, n_small, small.size - n_small)
    own = np.where(small, to_small, to_big) / np.maximum(own_size - 1, 1)
    other = np.where(small, to_big / (small.size - n_small), to_small / n_small)
    s = np.where(own_size > 1, (other - own) / np.maximum(np.maximum(own, other), 1e-300), 0.0)
    return float(s.mean())


def activation_clustering(scores, dims: int = 10, size_threshold: float = 0.35, n_init: int = 10,
                          seed: int = 0) -> PeerResult:
    """Activation Clustering on `scores.features`, class by class (see the module doc).

    dims (10), size_threshold (0.35) and k = 2 are the authors'; n_init (10) and seed set k-means'
    random starts. A class is flagged when its smaller cluster holds <= size_threshold of it, and
    `removed` is that smaller cluster in every flagged class.

    values: for sample i of class c, (1 - s_c) * sigmoid(m_i), where s_c is the relative size of
    c's smaller cluster (so 1 - s_c, the class's suspicion, is near 1/2 for a clean class that splits
    in halves and near 1 for a small poison cluster) and m_i is i's signed distance, in whitened
    units, to the plane halfway between the two centroids, positive on the smaller cluster's side
    (the margin d(i, big)^2 - d(i, small)^2 over twice the centroid distance). Members of a small
    cluster in a flagged class thus rank above most samples of an unflagged class, and within a
    class the samples deepest in the small cluster rank first. A class that cannot be split (fewer
    than 2 distinct points) gets values 0 and is not flagged.

    info: the settings, and per class {label: {n, small_size, relative_size, flagged, silhouette}},
    the silhouette being the mean over at most 1000 samples of the class in the reduced space.
    """
    dims = positive_int("dims", dims)
    size_threshold = finite_number("size_threshold", size_threshold, 0.0, 0.5, low_open=True)
    n_init = positive_int("n_init", n_init)
    seed = seed_value(seed)
    rng = np.random.default_rng(seed)
    data = checked(scores)
    n = data.label.size
    values = np.zeros(n, dtype=np.float64)
    removed = np.zeros(n, dtype=bool)
    per_class = {}
    for label, pos, x in centred_classes(data):
        z = _whitened_components(x, dims) if pos.size >= 2 else np.zeros((pos.size, 0))
        group = _kmeans_two(z, n_init, rng) if z.shape[1] else None
        if group is None:
            per_class[label] = {"n": int(pos.size), "small_size": 0, "relative_size": 0.0, "flagged": False,
                                "silhouette": float("nan")}
            continue
        small = group if group.sum() <= (~group).sum() else ~group
        relative = float(small.sum()) / pos.size
        flagged = relative <= size_threshold
        c_small, c_big = z[small].mean(0), z[~small].mean(0)
        axis = c_small - c_big
        margin = (z - (c_small + c_big) / 2.0) @ axis / np.linalg.norm(axis)
        values[pos] = (1.0 - relative) / (1.0 + np.exp(-np.clip(margin, -50.0, 50.0)))
        if flagged:
            removed[pos[small]] = True
        sample = rng.choice(pos.size, size=min(pos.size, SILHOUETTE_SAMPLES), replace=False)
        per_class[label] = {"n": int(pos.size), "small_size": int(small.sum()), "relative_size": relative,
                            "flagged": bool(flagged), "silhouette": _silhouette(z[sample], small[sample])}
    info = {"dims": dims, "reduction": "whitened PCA (equivalent to FastICA for k-means)", "k": 2,
            "size_threshold": size_threshold, "n_init": n_init, "seed": seed, "per_class": per_class}
    return PeerResult(values, removed, info)
