"""SCAn (Tang, Wang, Tang and Zhang, "Demon in the Variant: Statistical Analysis of DNNs for Robust
Backdoor Contamination Detection", USENIX Security 2021).

Two-component decomposition: every representation is r = mu_k + e, with an identity vector mu_k of
its class k drawn from N(0, S_mu) and a variation e drawn from N(0, S_e) SHARED by all classes.

Global step: estimate S_mu and S_e by the paper's EM: given them, each class's identity is its
posterior mean mu_k = S_mu (m_k S_mu + S_e)^-1 sum_{i in k} r_i (m_k samples); given the identities,
S_mu is the covariance of the mu_k (one per sample) and S_e that of the r_i - mu_k. Start from the
class means, alternate until neither matrix changes by more than 1e-6 of its size (at most 100
rounds). The paper fits this model on a small clean reference set; `reference` does that, and
without one the model is fitted on the inspected data itself (then a poisoned class's extra
variation leaks into S_e, which is shared by ten or more classes and so only diluted).

Local step (untangling), per class k: with S_e fixed, fit two subgroups with means u1, u2 by the
paper's alternation, assigning each r to the subgroup whose linear discriminant favours it
(r' S_e^-1 (u1 - u2) against (u1' S_e^-1 u1 - u2' S_e^-1 u2) / 2, i.e. the nearer mean in S_e's
Mahalanobis metric) and recomputing the means. The test statistic is the log-likelihood ratio of
"two subgroups" against "one identity" under S_e, per sample:
    J_k = mean_i [ (r_i - mu_k)' S_e^-1 (r_i - mu_k) - (r_i - u_g(i))' S_e^-1 (r_i - u_g(i)) ]
(mu_k the class's identity under the global model, g(i) the subgroup of i). Across classes
J*_k = (J_k - median J) / (1.4826 MAD J), and a class is flagged when J*_k > e^2 (the paper's
threshold). This is one-sided: only an unusually LARGE J says the class holds two populations.
In a flagged class the smaller subgroup is removed: the attack adds its poison to the target
class, which it does not outnumber.

The paper's random starts of the untangling are kept (n_init - 1 random partitions) with one more
start split at the class's top principal axis; the start with the largest J_k is kept (J_k is, up to
a constant of the class, minus the subgroups' within sum of squares, so this is the best fit).

Reduced space: all features are first projected onto their top min(D, dims) principal axes (dims =
64; fitted on the inspected data, so that a poison direction is among them; axes with variance
below 1e-10 of the top one are dropped so that S_e is invertible). The statistic is then computed in
64 dimensions, which keeps the EM's matrices small and S_e well estimated from a few thousand rows.
"""
from __future__ import annotations

import math

import numpy as np

from ._base import ROWS_PER_CHUNK, PeerResult, checked, finite_number, positive_int, seed_value, two_means

THRESHOLD = math.exp(2)  # the paper's: a class with J* above e^2 is flagged
MAD_SCALE = 1.4826  # MAD of a normal sample times this estimates its standard deviation
EM_TOL = 1e-6  # relative change of S_mu and S_e that ends the EM
EM_MAX_ITER = 100
SPLIT_MAX_ITER = 100  # rounds of the untangling alternation per start
RANK_TOL = 1e-10
RIDGE = 1e-9  # added to S_e, times its mean eigenvalue, so that it always inverts
J_STAR_CLIP = 50.0  # |J*| beyond this adds nothing to values


def _principal_axes(features: np.ndarray, dims: int) -> tuple[np.ndarray, np.ndarray]:
    """(mean [D], axes [D, k]) of the top k <= dims principal axes of features [N, D]."""
    n, d = features.shape
    total, gram = np.zeros(d), np.zeros((d, d))
    for start in range(0, n, ROWS_PER_CHUNK):
        block = np.asarray(features[start:start + ROWS_PER_CHUNK], dtype=np.float64)
        total += block.sum(0)
        gram += block.T @ block
    mean = total / n
    vals, vecs = np.linalg.eigh(gram / n - np.outer(mean, mean))
    vals, vecs = vals[::-1][:dims], vecs[:, ::-1][:, :dims]
    keep = vals > RANK_TOL * max(vals[0], 0.0)
    if not keep.any():
        raise ValueError("the features do not vary (every row is the same): SCAn has nothing to split")
    return mean, vecs[:, keep]


def _project(features: np.ndarray, mean: np.ndarray, axes: np.ndarray) -> np.ndarray:
    out = np.empty((features.shape[0], axes.shape[1]))
    for start in range(0, features.shape[0], ROWS_PER_CHUNK):
        block = np.asarray(features[start:start + ROWS_PER_CHUNK], dtype=np.float64)
        out[start:start + ROWS_PER_CHUNK] = (block - mean) @ axes
    return out


def _global_model(z: np.ndarray, classes: list) -> tuple[np.ndarray, np.ndarray, int, bool]:
    """(S_mu, S_e, EM rounds, converged) of the two-component model on z [N, k] (centred here)."""
    z = z - z.mean(0)
    n, k = z.shape
    counts = np.array([pos.size for _, pos in classes], dtype=np.float64)
    sums = np.stack([z[pos].sum(0) for _, pos in classes])
    scatter = z.T @ z

    def covariances(ident):  # of mu_k(i) and of e_i = z_i - mu_k(i) over the N samples (mean of z is 0)
        raw_mu = (ident.T * counts) @ ident / n
        cross = sums.T @ ident / n
        mean_mu = counts @ ident / n
        outer = np.outer(mean_mu, mean_mu)
        return raw_mu - outer, scatter / n - cross - cross.T + raw_mu - outer

    s_mu, s_e = covariances(sums / counts[:, None])
    for rounds in range(1, EM_MAX_ITER + 1):
        ident = np.stack([s_mu @ np.linalg.solve(m * s_mu + s_e, s) for m, s in zip(counts, sums)])
        new_mu, new_e = covariances(ident)
        change = np.linalg.norm(new_mu - s_mu) + np.linalg.norm(new_e - s_e)
        size = np.linalg.norm(new_mu) + np.linalg.norm(new_e)
        s_mu, s_e = new_mu, new_e
        if change <= EM_TOL * size:
            return s_mu, s_e, rounds, True
    return s_mu, s_e, EM_MAX_ITER, False


def _untangle(y: np.ndarray, n_init: int, rng: np.random.Generator) -> tuple[np.ndarray, float]:
    """Best two-subgroup split of the whitened class y [m, k]: (assignment, within sum of squares);
    no split (all False, the total sum of squares) when the class's points do not vary."""
    centred = y - y.mean(0)
    _, vecs = np.linalg.eigh(centred.T @ centred)
    starts = [centred @ vecs[:, -1] > 0] + [rng.random(y.shape[0]) < 0.5 for _ in range(n_init - 1)]
    best, best_within = np.zeros(y.shape[0], dtype=bool), float((centred ** 2).sum())
    for start in starts:
        group, within = two_means(y, start, SPLIT_MAX_ITER)
        if within < best_within and group.any() and not group.all():
            best, best_within = group, within
    return best, best_within


def scan(scores, reference=None, dims: int = 64, threshold: float = THRESHOLD, n_init: int = 5,
         seed: int = 0) -> PeerResult:
    """SCAn on `scores.features` (see the module doc).

    reference: optional clean ucfast.Scores (features of the same D) on which the global model
    (S_mu, S_e) is fitted, as in the paper; without it the model is fitted on `scores` itself.
    dims: the reduced space (top min(D, dims) principal axes of `scores.features`; 64).
    threshold: J* above which a class is flagged (the paper's e^2).
    n_init, seed: starts of the untangling per class (one principal-axis split, n_init - 1 random).

    removed: the smaller subgroup of every flagged class.
    values: for sample i of class k, g_k * (1 + p_i) / 2, with g_k = 1 / (1 + exp(-(J*_k - threshold)))
    (J*_k clipped to +-50; 1/2 at the threshold, ~1 well above it, ~exp(-7) for an ordinary class)
    and p_i the posterior that i belongs to the smaller subgroup under the two-Gaussian model with
    shared S_e and the subgroups' shares as priors. Classes are thereby ordered by J* and, within a
    class, the suspect subgroup comes first; among classes far above the threshold only p_i counts.

    info: the settings, the kept dims, the EM's rounds and convergence, median and MAD of J, and per
    class {label: {n, J, J_star, flagged, suspect_size}} (J and J_star nan for a class of one sample,
    which is not tested).
    """
    dims = positive_int("dims", dims)
    threshold = finite_number("threshold", threshold, 0.0, math.inf, low_open=True)
    n_init = positive_int("n_init", n_init)
    seed = seed_value(seed)
    rng = np.random.default_rng(seed)
    data = checked(scores)
    ref = data if reference is None else checked(reference, "reference")
    if ref.features.shape[1] != data.features.shape[1]:
        raise ValueError(f"reference.features has D = {ref.features.shape[1]} but scores.features has D ="
                         f" {data.features.shape[1]}; they must come from the same model layer")
    tested = [(label, pos) for label, pos in data.classes if pos.size >= 2]
    if len(tested) < 2:
        raise ValueError(f"SCAn compares classes of at least 2 samples and needs 2 of them, scores hold"
                         f" {len(tested)}")
    mean, axes = _principal_axes(data.features, dims)
    z = _project(data.features, mean, axes)  # centred: `mean` is the inspected data's
    z_ref = z if reference is None else _project(ref.features, mean, axes)
    s_mu, s_e, rounds, converged = _global_model(z_ref, ref.classes)
    s_e = s_e + RIDGE * max(np.trace(s_e) / s_e.shape[0], 1e-300) * np.eye(s_e.shape[0])
    unwhiten = np.linalg.cholesky(s_e)  # S_e = C C'; y = C^-1 r makes S_e's Mahalanobis metric Euclidean
    whiten = np.linalg.inv(unwhiten)

    n = data.label.size
    j = {}
    split = {}
    for label, pos in tested:
        y = z[pos] @ whiten.T
        ident = whiten @ (s_mu @ np.linalg.solve(pos.size * s_mu + s_e, z[pos].sum(0)))
        group, within = _untangle(y, n_init, rng)
        j[label] = (float(((y - ident) ** 2).sum()) - within) / pos.size
        small = group if group.sum() <= (~group).sum() else ~group
        if not small.any():
            split[label] = (small, np.zeros(pos.size))
            continue
        u_small, u_big = y[small].mean(0), y[~small].mean(0)
        share = small.sum() / pos.size
        logit = math.log(share / (1.0 - share)) + 0.5 * (((y - u_big) ** 2).sum(1) - ((y - u_small) ** 2).sum(1))
        split[label] = (small, 1.0 / (1.0 + np.exp(-np.clip(logit, -50.0, 50.0))))
    stats = np.array(list(j.values()))
    median = float(np.median(stats))
    mad = float(np.median(np.abs(stats - median)))

    values = np.zeros(n, dtype=np.float64)
    removed = np.zeros(n, dtype=bool)
    per_class = {label: {"n": int(pos.size), "J": float("nan"), "J_star": float("nan"), "flagged": False,
                         "suspect_size": 0} for label, pos in data.classes}
    for label, pos in tested:
        excess = j[label] - median
        if mad > 0:
            j_star = excess / (MAD_SCALE * mad)
        else:
            j_star = math.inf if excess > 0 else 0.0
        flagged = j_star > threshold
        small, posterior = split[label]
        gate = 1.0 / (1.0 + math.exp(-(min(max(j_star, -J_STAR_CLIP), J_STAR_CLIP) - threshold)))
        values[pos] = gate * (1.0 + posterior) / 2.0
        if flagged:
            removed[pos[small]] = True
        per_class[label].update(J=j[label], J_star=j_star, flagged=bool(flagged), suspect_size=int(small.sum()))
    info = {"dims": int(axes.shape[1]), "threshold": threshold, "n_init": n_init, "seed": seed,
            "reference": reference is not None, "em_rounds": rounds, "em_converged": converged,
            "median_J": median, "mad_J": mad, "per_class": per_class}
    return PeerResult(values, removed, info)
