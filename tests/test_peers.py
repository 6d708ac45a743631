"""Peer detectors (ucfast.peers) on planted poison: ten Gaussian classes in 32-D, class 0 with 10%
more samples moved 6 sigmas along a random direction; and on the same data without poison."""
import functools

import numpy as np
import pytest

from ucfast import Scores, peers
from ucfast.metrics import auroc
from ucfast.peers.scan import _global_model

CLASSES, PER_CLASS, DIM, RATE, SHIFT = 10, 300, 32, 0.1, 6.0
SEEDS = range(10)


def make_scores(features, label):
    n = label.size
    return Scores(np.zeros(n, np.float32), {}, label.copy(), label, np.arange(n), {}, features)


@functools.lru_cache(maxsize=None)
def planted(seed, poison=True):
    """(scores, poison mask, clean reference scores) of one draw."""
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.normal(size=(DIM, DIM)))
    mix = q * rng.uniform(0.7, 1.3, DIM)  # shared within-class covariance, mildly anisotropic
    means = rng.normal(0.0, 4.0, (CLASSES, DIM))

    def draw(per_class):
        label = np.repeat(np.arange(CLASSES), per_class)
        return means[label] + rng.normal(size=(label.size, DIM)) @ mix.T, label

    x, label = draw(PER_CLASS)
    mask = np.zeros(label.size, bool)
    if poison:
        u = rng.normal(size=DIM)
        u /= np.linalg.norm(u)
        k = int(RATE * PER_CLASS)
        moved = means[0] + rng.normal(size=(k, DIM)) @ mix.T + SHIFT * np.linalg.norm(mix.T @ u) * u
        x, label, mask = np.vstack([x, moved]), np.r_[label, np.zeros(k, int)], np.r_[mask, np.ones(k, bool)]
    order = rng.permutation(label.size)
    ref_x, ref_label = draw(30)
    return (make_scores(x[order].astype(np.float32), label[order]), mask[order],
            make_scores(ref_x.astype(np.float32), ref_label))


def check_result(result, n):
    assert isinstance(result, peers.PeerResult)
    assert result.values.shape == (n,) and result.values.dtype == np.float64
    assert np.isfinite(result.values).all()
    assert result.removed.shape == (n,) and result.removed.dtype == bool


def test_peers_table():
    assert peers.PEERS == {"spectral_signatures": peers.spectral_signatures,
                           "activation_clustering": peers.activation_clustering, "scan": peers.scan}


@pytest.mark.parametrize("seed", SEEDS)
def test_spectral_signatures_planted(seed):
    scores, mask, _ = planted(seed)
    result = peers.spectral_signatures(scores, eps=0.05)
    check_result(result, len(scores))
    assert auroc(result.values, mask) >= 0.95
    for label in range(CLASSES):
        members = scores.label == label
        assert result.removed[members].sum() == int(1.5 * 0.05 * members.sum())  # the authors' rule, every class
    target = scores.label == 0
    assert (result.removed & mask).sum() >= 0.9 * result.removed[target].sum()  # mostly poison where it is


def test_spectral_signatures_follows_the_samples():
    scores, mask, _ = planted(0)
    order = np.random.default_rng(1).permutation(len(scores))
    shuffled = make_scores(scores.features[order], scores.label[order])
    a, b = peers.spectral_signatures(scores), peers.spectral_signatures(shuffled)
    np.testing.assert_allclose(b.values, a.values[order], rtol=1e-6, atol=1e-9)
    np.testing.assert_array_equal(b.removed, a.removed[order])


@pytest.mark.parametrize("seed", SEEDS)
def test_activation_clustering_planted(seed):
    scores, mask, _ = planted(seed)
    result = peers.activation_clustering(scores)
    check_result(result, len(scores))
    assert auroc(result.values, mask) >= 0.95
    assert [c for c, row in result.info["per_class"].items() if row["flagged"]] == [0]
    assert (result.removed & mask).sum() >= 0.9 * result.removed.sum()
    assert (result.removed & mask).sum() >= 0.9 * mask.sum()
    assert result.info["per_class"][0]["silhouette"] > result.info["per_class"][1]["silhouette"]


@pytest.mark.parametrize("seed", SEEDS)
def test_scan_planted(seed):
    scores, mask, _ = planted(seed)
    result = peers.scan(scores)
    check_result(result, len(scores))
    assert auroc(result.values, mask) >= 0.95
    rows = result.info["per_class"]
    assert [c for c, row in rows.items() if row["flagged"]] == [0]
    assert rows[0]["J_star"] > np.exp(2) and rows[0]["suspect_size"] == result.removed.sum()
    assert (result.removed & mask).sum() >= 0.9 * result.removed.sum()
    assert (result.removed & mask).sum() >= 0.9 * mask.sum()


def test_scan_with_a_clean_reference():
    scores, mask, reference = planted(3)
    result = peers.scan(scores, reference=reference)
    assert result.info["reference"] is True
    assert [c for c, row in result.info["per_class"].items() if row["flagged"]] == [0]
    assert auroc(result.values, mask) >= 0.95
    assert (result.removed & mask).sum() >= 0.9 * mask.sum()


def test_scan_rarely_flags_clean_data():
    flagged = 0
    for seed in SEEDS:
        scores, mask, _ = planted(seed, poison=False)
        assert not mask.any()
        result = peers.scan(scores)
        flagged += any(row["flagged"] for row in result.info["per_class"].values())
        assert result.removed.any() == any(row["flagged"] for row in result.info["per_class"].values())
    assert flagged <= 2


def test_float16_memmap_features(tmp_path):
    scores, mask, _ = planted(4)
    stored = np.lib.format.open_memmap(tmp_path / "f.npy", mode="w+", dtype=np.float16, shape=scores.features.shape)
    stored[:] = scores.features
    stored.flush()
    half = make_scores(np.load(tmp_path / "f.npy", mmap_mode="r"), scores.label)
    for name, peer in peers.PEERS.items():
        result = peer(half)
        check_result(result, len(half))
        assert auroc(result.values, mask) >= 0.95, name


def broken(**change):
    scores, _, _ = planted(0)
    fields = {"features": scores.features, "label": scores.label}
    fields.update(change)
    return make_scores(fields["features"], fields["label"])


@pytest.mark.parametrize("peer", peers.PEERS.values(), ids=list(peers.PEERS))
def test_bad_input(peer):
    scores, _, _ = planted(0)
    n = len(scores)
    with pytest.raises(TypeError, match="must be ucfast.Scores"):
        peer(scores.features)
    with pytest.raises(ValueError, match="features is None"):
        peer(broken(features=None))
    with pytest.raises(ValueError, match=r"features must be \[N, D\]"):
        peer(broken(features=scores.features[:, 0]))
    with pytest.raises(ValueError, match=r"features must be \[N, D\]"):
        peer(make_scores(scores.features[:-1], scores.label))
    with pytest.raises(TypeError, match="features must hold floats"):
        peer(broken(features=scores.features.astype(np.int32)))
    nan = scores.features.copy()
    nan[7, 3] = np.nan
    with pytest.raises(ValueError, match="non-finite"):
        peer(broken(features=nan))
    with pytest.raises(TypeError, match="label must hold integers"):
        peer(broken(label=scores.label.astype(np.float64)))
    with pytest.raises(ValueError, match="at least 2"):
        peer(broken(label=np.zeros(n, np.int64)))


def test_bad_settings():
    scores, _, reference = planted(0)
    for eps in (0, -0.1, 0.7, float("nan")):
        with pytest.raises(ValueError, match="eps must be in"):
            peers.spectral_signatures(scores, eps=eps)
    with pytest.raises(TypeError, match="eps must be a number"):
        peers.spectral_signatures(scores, eps="0.05")
    with pytest.raises(ValueError, match="size_threshold must be in"):
        peers.activation_clustering(scores, size_threshold=0.6)
    with pytest.raises(ValueError, match="dims must be a positive integer"):
        peers.activation_clustering(scores, dims=0)
    with pytest.raises(ValueError, match="n_init must be a positive integer"):
        peers.scan(scores, n_init=0)
    with pytest.raises(ValueError, match="seed must be an integer"):
        peers.scan(scores, seed=-1)
    with pytest.raises(ValueError, match="threshold must be in"):
        peers.scan(scores, threshold=0)
    with pytest.raises(TypeError, match="reference must be ucfast.Scores"):
        peers.scan(scores, reference=reference.features)
    narrow = make_scores(reference.features[:, :16].copy(), reference.label)
    with pytest.raises(ValueError, match="reference.features has D = 16"):
        peers.scan(scores, reference=narrow)


def test_scan_global_model_recovers_the_two_covariances():
    rng = np.random.default_rng(0)
    classes, per_class, dim = 300, 20, 4
    a, b = rng.normal(size=(dim, dim)), 0.5 * rng.normal(size=(dim, dim))
    s_mu, s_e = a @ a.T, b @ b.T + 0.2 * np.eye(dim)
    label = np.repeat(np.arange(classes), per_class)
    x = (rng.multivariate_normal(np.zeros(dim), s_mu, classes)[label]
         + rng.multivariate_normal(np.zeros(dim), s_e, label.size))
    fit_mu, fit_e, _, converged = _global_model(x, [(c, np.flatnonzero(label == c)) for c in range(classes)])
    assert converged
    assert np.linalg.norm(fit_mu - s_mu) < 0.15 * np.linalg.norm(s_mu)
    assert np.linalg.norm(fit_e - s_e) < 0.15 * np.linalg.norm(s_e)
