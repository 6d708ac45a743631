"""Selection at scale (`ucfast.sanitize.select`) against `ucfast.select`, the semantics it must keep."""
import math

import numpy as np
import pytest

import ucfast
from ucfast.sanitize.select import KEPT, REMOVED, UNREADABLE, select, top_k


def _scores(n, seed, ties=False, classes=4):
    rng = np.random.default_rng(seed)
    total = rng.gamma(2.0, 0.1, n).astype(np.float32)
    if ties:
        total = np.round(total * 20).astype(np.float32) / 20  # few distinct values: many ties
    label = rng.integers(0, classes, n)
    return total, label


def _reference(total, label, **kw):
    s = ucfast.Scores(total=total, components={}, pred=np.zeros(len(total), np.int64), label=label,
                      index=np.arange(len(total)))
    return ucfast.select(s, **kw)


@pytest.mark.parametrize("n", [1, 7, 237, 5000])
@pytest.mark.parametrize("ties", [False, True])
@pytest.mark.parametrize("kw", [
    dict(ratio=0.1), dict(ratio=0.5), dict(ratio=0.01), dict(threshold=0.25), dict(threshold=-1.0),
    dict(ratio=0.2, per_class=True), dict(threshold=1.5, per_class=True), dict(ratio=0.3, classes=[1, 2]),
    dict(threshold=0.2, classes=3), dict(ratio=0.25, per_class=True, classes=[0]),
])
def test_same_as_ucfast_select(n, ties, kw):
    total, label = _scores(n, seed=n, ties=ties)
    label[:min(4, n)] = np.arange(min(4, n))  # every class occurs where n allows
    try:
        want = _reference(total, label, **kw)
    except ValueError as e:
        assert "do not occur among the scored labels" in str(e)
        with pytest.raises(ValueError, match="do not occur among the scored labels"):
            select(total, label, **kw)
        return
    got = select(total, label, **kw)
    np.testing.assert_array_equal(np.flatnonzero(got.status == REMOVED), want.removed)
    assert got.cutoff == want.threshold or (math.isinf(got.cutoff) and math.isinf(want.threshold))
    assert got.method == want.method


def test_unreadable_samples_are_no_candidates():
    total, label = _scores(1000, seed=3)
    bad = np.array([5, 17, 600])
    with_nan = total.copy()
    with_nan[bad] = np.nan
    keep = np.setdiff1d(np.arange(1000), bad)
    for kw in (dict(ratio=0.1), dict(threshold=0.3), dict(ratio=0.1, per_class=True)):
        got = select(with_nan, label, **kw)
        want = _reference(total[keep], label[keep], **kw)
        assert (got.status[bad] == UNREADABLE).all()
        np.testing.assert_array_equal(np.flatnonzero(got.status == REMOVED), keep[want.removed])
    assert select(with_nan, label).counts() == {"kept": 997, "removed": 0, "unreadable": 3}


def test_top_k_ties_go_to_lower_positions():
    values = np.array([1, 3, 3, 2, 3, 3], dtype=np.float32)
    chosen, cutoff = top_k(values, np.arange(6), 3)
    assert chosen.tolist() == [1, 2, 4] and cutoff == 3.0
    chosen, cutoff = top_k(values, np.array([0, 3, 5]), 2)
    assert chosen.tolist() == [3, 5] and cutoff == 2.0


def test_bad_arguments():
    total, label = _scores(10, seed=0)
    with pytest.raises(ValueError, match="not both"):
        select(total, label, ratio=0.1, threshold=1.0)
    with pytest.raises(ValueError, match=r"ratio must be a fraction in \(0, 1\)"):
        select(total, label, ratio=1.0)
    with pytest.raises(ValueError, match="threshold must be a number"):
        select(total, label, threshold=float("nan"))
    with pytest.raises(ValueError, match=r"classes \[9\] do not occur"):
        select(total, label, ratio=0.5, classes=[9])


def test_ten_million_memory_mapped_scores(tmp_path):
    n = 10_000_000
    scores = np.lib.format.open_memmap(tmp_path / "s.npy", mode="w+", dtype=np.float32, shape=(n,))
    scores[:] = np.random.default_rng(0).random(n, dtype=np.float32)
    label = np.zeros(n, dtype=np.int64)
    got = select(np.load(tmp_path / "s.npy", mmap_mode="r"), label, ratio=0.001)
    removed = np.flatnonzero(got.status == REMOVED)
    assert removed.size == 10_000 and scores[removed].min() == got.cutoff
    assert (np.asarray(scores)[got.status == KEPT] <= got.cutoff).all()
