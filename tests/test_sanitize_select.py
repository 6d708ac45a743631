"""The sanitize job selects through `ucfast.select`: same removals from the CLI as from the library,
unreadable samples never candidates, the top-k against a full sort, memory-mapped scale."""
import json

import numpy as np
import pytest

import ucfast
from ucfast.cli import main
from ucfast.sanitize.select import KEPT, REMOVED, UNREADABLE, select_readable
from ucfast.selection import check, top_k

from .test_sanitize import make_checkpoint, make_images

CLASSES, PER_CLASS, EXTRA = 8, 40, 120


@pytest.fixture(scope="module")
def oversized(tmp_path_factory):
    """An .npz whose class 0 holds EXTRA binary-noise images on top of PER_CLASS like every class: the
    automatic cut flags it (size and a separate group), so the default removes something."""
    root = tmp_path_factory.mktemp("oversized")
    n = CLASSES * PER_CLASS
    images = make_images(n + EXTRA, 16)
    noise = np.random.default_rng(1).integers(0, 2, (EXTRA, 16, 16, 1))
    images[n:] = (noise * 255).astype(np.uint8)
    labels = np.r_[np.arange(n) % CLASSES, np.zeros(EXTRA, np.int64)]
    np.savez(root / "data.npz", images=images, labels=labels)
    return root, make_checkpoint(root / "cnn.pt", classes=CLASSES)


def _cli(root, ckpt, out, *selection) -> dict:
    code = main(["sanitize", str(root / "data.npz"), "--arch", "cnn", "--checkpoint", ckpt, "--out", str(out),
                 "--denoisers", "median", "--batch-size", "64", "--workers", "0", "--no-progress", *selection])
    assert code == 0
    with open(out / "report.json") as f:
        return json.load(f)


def _scores_of(out) -> ucfast.Scores:
    total = np.load(out / "scores.npy")
    return ucfast.Scores(total, {"median": np.load(out / "scores_median.npy")}, np.load(out / "predictions.npy"),
                         np.load(out / "labels.npy"), np.arange(total.size), features=np.load(out / "features.npy"))


@pytest.mark.parametrize("selection, kw, algorithm", [
    ((), {}, "auto"),
    (("--ratio", "0.1"), dict(ratio=0.1), "ultraclean"),
    (("--method", "auto", "--ratio", "0.1"), dict(method="auto", ratio=0.1), "auto"),
    (("--threshold", "0.002", "--per-class"), dict(threshold=0.002, per_class=True), "ultraclean"),
])
def test_cli_removes_what_ucfast_select_removes(oversized, tmp_path, selection, kw, algorithm):
    root, ckpt = oversized
    report = _cli(root, ckpt, tmp_path, *selection)
    want = ucfast.select(_scores_of(tmp_path), **kw)
    status = np.load(tmp_path / "status.npy")
    np.testing.assert_array_equal(np.flatnonzero(status == REMOVED), want.removed)
    sel = report["selection"]
    assert sel["method"] == want.method and sel["assumptions"] == json.loads(json.dumps(want.assumptions))
    assert sel["algorithm"] == algorithm
    if not selection:
        assert want.removed.size > 0 and sel["assumptions"]["removed"] == want.removed.size
        assert sel["method"] == "auto, cut=auto" and sel["ranked"] == "detector value"


def test_bad_selection_fails_before_anything_is_scored(oversized, tmp_path):
    root, ckpt = oversized
    for kw, match in ((dict(ratio=True), r"ratio must be a number, got True"),
                      (dict(per_class=True), "exactly one of ratio or threshold"),
                      (dict(method="auto", per_class=True, ratio=0.1), "method='auto' is per class already")):
        with pytest.raises(ValueError, match=match):
            ucfast.sanitize(root / "data.npz", out=tmp_path / "out", arch="cnn", checkpoint=ckpt, **kw)
        assert not (tmp_path / "out").exists()


def _synthetic(n, seed, classes=4):
    rng = np.random.default_rng(seed)
    total = rng.gamma(2.0, 0.1, n).astype(np.float32)
    components = {"median": (total * rng.uniform(0.5, 1.5, n)).astype(np.float32)}
    return total, components, rng.integers(0, 3, n), rng.integers(0, classes, n)


@pytest.mark.parametrize("kw", [
    dict(ratio=0.1), dict(threshold=0.3), dict(ratio=0.1, per_class=True), dict(ratio=0.2, classes=[1, 2]),
    dict(), dict(method="auto", ratio=0.05),
])
def test_unreadable_samples_are_no_candidates(kw):
    total, components, pred, label = _synthetic(1000, seed=3)
    bad = np.array([5, 17, 600])
    keep = np.setdiff1d(np.arange(1000), bad)
    with_nan = total.copy()
    with_nan[bad] = np.nan
    got = select_readable(check(**kw), with_nan, label, pred, components)
    want = ucfast.select(ucfast.Scores(total[keep], {k: v[keep] for k, v in components.items()}, pred[keep],
                                       label[keep], np.arange(keep.size)), **kw)
    assert (got.status[bad] == UNREADABLE).all()
    np.testing.assert_array_equal(np.flatnonzero(got.status == REMOVED), keep[want.removed])
    assert got.counts() == {"kept": 997 - want.removed.size, "removed": want.removed.size, "unreadable": 3}


def test_top_k_ties_go_to_lower_dataset_positions():
    values = np.array([1, 3, 3, 2, 3, 3], dtype=np.float32)
    chosen, cutoff = top_k(values, np.arange(6), np.arange(6), 3)
    assert sorted(chosen.tolist()) == [1, 2, 4] and cutoff == 3.0
    chosen, cutoff = top_k(values, np.array([0, 3, 5]), np.arange(6), 2)
    assert sorted(chosen.tolist()) == [3, 5] and cutoff == 2.0
    chosen, _ = top_k(values, np.arange(6), np.array([9, 8, 7, 6, 5, 4]), 3)
    assert sorted(chosen.tolist()) == [2, 4, 5]


@pytest.mark.parametrize("n, k", [(1, 1), (7, 3), (237, 23), (5000, 50), (5000, 5000)])
def test_top_k_is_a_full_sort_cut(n, k):
    rng = np.random.default_rng(n)
    values = np.round(rng.random(n) * 20) / 20  # few distinct values: many ties
    index = rng.permutation(n) * 3
    chosen, cutoff = top_k(values, np.arange(n), index, k)
    want = np.lexsort((index, -values))[:k]
    np.testing.assert_array_equal(np.sort(chosen), np.sort(want))
    assert cutoff == values[want].min()


def test_ten_million_memory_mapped_scores(tmp_path):
    n = 10_000_000
    scores = np.lib.format.open_memmap(tmp_path / "s.npy", mode="w+", dtype=np.float32, shape=(n,))
    scores[:] = np.random.default_rng(0).random(n, dtype=np.float32)
    zeros = np.zeros(n, dtype=np.int64)
    got = select_readable(check(ratio=0.001), np.load(tmp_path / "s.npy", mmap_mode="r"), zeros, zeros, {})
    removed = np.flatnonzero(got.status == REMOVED)
    assert removed.size == 10_000 and scores[removed].min() == got.cutoff
    assert (np.asarray(scores)[got.status == KEPT] <= got.cutoff).all()
