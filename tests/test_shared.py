"""The shared-trigger test: the valley test holds its level on unimodal samples of any shape and
finds two modes; poison in every class (all-to-all) is flagged and cut, while a few classes sharing
a trigger are left to the class tests."""
import numpy as np
import pytest

import ucfast
from ucfast.detect import detect
from ucfast.detect.shared import shared_trigger
from ucfast.detect.valley import valley_p
from ucfast.detect.whiten import class_centroids, class_rows, reduce

K, PER_CLASS, D, STYLE = 10, 240, 16, 3

UNIMODAL = {
    "normal": lambda rng, n: rng.normal(0, 1, n),
    "uniform": lambda rng, n: rng.uniform(0, 1, n),  # the least favourable unimodal shape
    "exponential": lambda rng, n: rng.exponential(1, n),
    "spike and flat tail": lambda rng, n: np.where(rng.random(n) < 0.8, rng.uniform(0, 0.05, n), rng.uniform(0, 5, n)),
    "lognormal": lambda rng, n: rng.lognormal(0, 1, n),
}


@pytest.mark.parametrize("shape", sorted(UNIMODAL))
@pytest.mark.parametrize("n", [60, 300])
def test_the_valley_test_holds_its_level_on_unimodal_samples(shape, n):
    trials = 200
    p = np.array([valley_p([UNIMODAL[shape](np.random.default_rng([seed, n]), n)], seed=seed)[0]
                  for seed in range(trials)])
    assert np.mean(p <= 0.05) <= 0.05 + 3 * np.sqrt(0.05 * 0.95 / trials)
    assert np.mean(p <= 0.01) <= 0.01 + 3 * np.sqrt(0.01 * 0.99 / trials)


@pytest.mark.parametrize("seed", range(10))
def test_the_valley_test_finds_a_small_second_mode_and_the_line_it_lies_along(seed):
    rng = np.random.default_rng(seed)
    n, share = 300, 0.15
    second = rng.random(n) < share
    along = np.where(second, 8.0, 0.0) + rng.normal(0, 1, n)
    across = rng.normal(0, 1, n)
    p, line = valley_p([across, along], seed=seed)
    assert p < 1e-3 and line == 1
    assert valley_p([across], seed=seed)[0] > 1e-3


def all_to_all(seed, rate=0.2, targets=K):
    """K classes with shared natural variation; in each of the first `targets` classes, `rate` of
    its samples are images of the previous class carrying one common trigger (labelled this
    class). Returns the scores and the poison mask."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 1.5, (K, D))  # classes about as far apart as the trigger is long, as on Fashion-MNIST
    style = np.linalg.qr(rng.normal(0, 1, (D, STYLE)))[0].T
    trigger = rng.normal(0, 1, D)
    trigger -= style.T @ (style @ trigger)
    trigger *= 10.0 / np.linalg.norm(trigger)  # its group apart along it, as all-to-all on Fashion-MNIST
    label = np.repeat(np.arange(K), PER_CLASS)
    n = label.size
    poison = (label < targets) & (rng.random(n) < rate)
    content = np.where(poison, (label - 1) % K, label)
    feats = centres[content] + rng.normal(0, 1, (n, D)) + rng.normal(0, 2, (n, STYLE)) @ style
    feats[poison] += trigger
    dist = np.exp(rng.normal(-3, 1, (n, 2))).astype(np.float32)
    scores = ucfast.Scores(dist.sum(1), {"median": dist[:, 0], "nlm": dist[:, 1]}, label.copy(), label,
                           np.arange(n), features=feats.astype(np.float32))
    return scores, poison


@pytest.mark.parametrize("seed", range(20))
def test_poison_in_every_class_is_flagged_and_cut(seed):
    scores, poison = all_to_all(seed)
    det = detect(scores)
    assert len(det.flagged) >= K - 2  # a class may miss its valley (8 of 10 at worst over 20 seeds)
    assert sum(row["by_shared"] for row in det.classes) >= K - 2
    assert all(row["named_by"] == "shared-trigger" for row in det.classes if row["by_shared"])
    removed = ucfast.select(scores).removed_mask
    assert removed[poison].mean() >= 0.8 and removed[~poison].mean() <= 0.02
    flagged = np.isin(scores.label, det.flagged)
    suspect = flagged & (det.posterior > 0.5)
    assert det.values[suspect].min() > det.values[flagged & ~suspect].max()  # across classes, not only within
    assert det.values[flagged].min() >= 0.5 > det.values[~flagged].max(initial=0.0)


def _shared(scores):
    x = reduce(scores.features)
    classes = np.unique(scores.label)
    rows = class_rows(scores.label, classes)
    return shared_trigger(x, rows, classes, class_centroids(x, rows, classes), 4, 0.01, 16)


@pytest.mark.parametrize("seed", range(10))
def test_a_trigger_shared_by_a_few_classes_is_left_to_the_class_tests(seed):
    shared = _shared(all_to_all(seed, targets=2)[0])
    assert not shared.flagged.any()  # two of ten is not "most classes"


@pytest.mark.parametrize("seed", range(10))
def test_clean_classes_show_no_shared_valley(seed):
    shared = _shared(all_to_all(seed, rate=0.0)[0])
    assert not shared.flagged.any() and (shared.p > 0.01 / K).all()


def test_the_binomial_tail_matches_scipy():
    from scipy.stats import binom

    from ucfast.detect.valley import _tail
    rng = np.random.default_rng(0)
    n = rng.integers(0, 3000, 400)
    k = rng.integers(-2, 3002, 400)
    np.testing.assert_allclose(_tail(k, n), binom.sf(k - 1, n, 0.5), rtol=1e-9, atol=1e-300)


def test_the_detector_runs_without_the_test_only_packages():
    """scipy, OpenCV and scikit-image are test oracles, not dependencies: the default selection
    must import and run without them (a user's `pip install .` does not bring them)."""
    import subprocess
    import sys
    code = ("import sys\n"
            "for name in ('scipy', 'cv2', 'skimage'):\n"
            "    sys.modules[name] = None\n"
            "sys.path.insert(0, 'tests')\n"
            "import ucfast\n"
            "from test_shared import all_to_all\n"
            "scores, poison = all_to_all(0)\n"
            "assert ucfast.select(scores).removed_mask[poison].mean() > 0.8\n")
    root = __file__.rsplit("/tests/", 1)[0]
    done = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
