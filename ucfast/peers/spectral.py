"""Spectral Signatures (Tran, Li and Madry, "Spectral Signatures in Backdoor Attacks", NeurIPS 2018).

Per label class c with representations R_c [n_c, D]: centre them, take the top right singular
vector v of the centred matrix, and give every sample the outlier score ((r_i - mean_c) . v)^2, its
squared projection on v. Poison that shifts its representations along one direction makes that
direction the top singular vector, and its samples the largest scores. The authors remove, in every
class, the 1.5 * eps * n_c samples of largest score, where eps is an upper bound on the poison rate
that they ASSUME KNOWN; the 1.5 is theirs (a margin for eps being a rough bound).
"""
from __future__ import annotations

import numpy as np

from ._base import PeerResult, centred_classes, checked, finite_number

REMOVAL_FACTOR = 1.5  # the authors' margin: remove 1.5 * eps * n_c per class


def _top_projection(x: np.ndarray) -> np.ndarray:
    """Projection of every row of the centred x [n, D] on its top right singular vector."""
    if x.shape[0] >= x.shape[1]:
        _, vecs = np.linalg.eigh(x.T @ x)
        return x @ vecs[:, -1]
    vals, vecs = np.linalg.eigh(x @ x.T)  # fewer rows than columns: the left singular vector
    return vecs[:, -1] * np.sqrt(max(vals[-1], 0.0))


def spectral_signatures(scores, eps: float = 0.05) -> PeerResult:
    """Spectral Signatures on `scores.features`, class by class.

    eps: the poison rate the authors assume known (default 0.05); the removal rule takes the top
    floor(1.5 * eps * n_c) outlier scores of EVERY class c, poisoned or not, so on a clean class it
    removes clean samples by construction. 0 < eps <= 1 / 1.5.

    values: the outlier score divided by its class's median outlier score, so that classes whose
    representations spread more do not dominate a global ranking. On a clean, roughly Gaussian class
    this ratio follows chi-square(1) / 0.455 whatever the class's scale; on a poisoned class the
    poison sits far above. (A class whose median score is 0 is divided by its mean score instead;
    one with all scores 0 gets values 0.)

    info: eps, factor (1.5), and per class {label: {n, removed, median_score, top_share}} with
    top_share the share of the class's variance along the top singular vector.
    """
    eps = finite_number("eps", eps, 0.0, 1.0 / REMOVAL_FACTOR, low_open=True)
    data = checked(scores)
    n = data.label.size
    values = np.zeros(n, dtype=np.float64)
    removed = np.zeros(n, dtype=bool)
    per_class = {}
    for label, pos, x in centred_classes(data):
        score = _top_projection(x) ** 2
        cut = int(REMOVAL_FACTOR * eps * pos.size)
        removed[pos[np.argsort(-score, kind="stable")[:cut]]] = True
        median, mean = float(np.median(score)), float(score.mean())
        scale = median if median > 0 else mean
        values[pos] = score / scale if scale > 0 else 0.0
        total = float((x ** 2).sum())
        per_class[label] = {"n": int(pos.size), "removed": cut, "median_score": median,
                            "top_share": float(score.sum()) / total if total > 0 else 0.0}
    return PeerResult(values, removed, {"eps": eps, "factor": REMOVAL_FACTOR, "per_class": per_class})
