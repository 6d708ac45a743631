"""`ucfast.select`: the authors' top-ratio cut, thresholds, known classes, per-class normalisation."""
import warnings

import numpy as np
import pytest

import ucfast


def scores(total, label=None, index=None):
    total = np.asarray(total, dtype=np.float32)
    n = total.size
    label = np.zeros(n, np.int64) if label is None else np.asarray(label, np.int64)
    index = np.arange(n) if index is None else np.asarray(index, np.int64)
    return ucfast.Scores(total, {"median": total}, np.zeros(n, np.int64), label, index)


def test_ratio_removes_top_floor_ratio_n():
    s = scores([0.1, 0.9, 0.5, 0.7, 0.2, 0.3, 0.8, 0.0, 0.6, 0.4])
    sel = ucfast.select(s, ratio=0.25)  # floor(2.5) = 2
    assert sel.removed.tolist() == [1, 6]
    assert sel.kept.tolist() == [0, 2, 3, 4, 5, 7, 8, 9]
    assert sel.threshold == pytest.approx(0.8)


def test_ties_are_broken_by_dataset_position():
    sel = ucfast.select(scores([1.0, 1.0, 1.0, 0.0], index=[7, 3, 5, 1]), ratio=0.5)
    assert sel.removed.tolist() == [3, 5]


def test_threshold_removes_values_at_or_above():
    sel = ucfast.select(scores([0.1, 0.5, 0.7]), threshold=0.5)
    assert sel.removed.tolist() == [1, 2] and sel.threshold == 0.5


def test_known_classes_restrict_candidates():
    s = scores([0.9, 0.1, 0.8, 0.2, 0.3, 0.4], label=[0, 1, 0, 1, 1, 1])
    sel = ucfast.select(s, ratio=0.5, classes=[1])  # candidates 1, 3, 4, 5 -> top 2 of them
    assert sel.removed.tolist() == [4, 5]


def test_per_class_normalisation_ranks_within_class():
    # Class 0 is uniformly more susceptible; per class, the outlier of class 1 ranks first.
    total = [10.0, 10.1, 9.9, 10.05, 1.0, 1.1, 0.9, 5.0]
    label = [0, 0, 0, 0, 1, 1, 1, 1]
    assert ucfast.select(scores(total, label), ratio=0.125).removed.tolist() == [1]
    assert ucfast.select(scores(total, label), ratio=0.125, per_class=True).removed.tolist() == [7]


@pytest.mark.parametrize("kwargs, match", [
    (dict(ratio=0.0), r"ratio must be a fraction in \(0, 1\)"),
    (dict(ratio=1.0), r"ratio must be a fraction in \(0, 1\)"),
    (dict(ratio=-0.1), r"ratio must be a fraction"),
    (dict(method="ultraclean"), "exactly one of ratio or threshold"),
    (dict(per_class=True), "exactly one of ratio or threshold"),
    (dict(ratio=0.1, threshold=1.0), "exactly one of ratio or threshold"),
    (dict(ratio=0.1, classes=[5]), r"classes \[5\] do not occur"),
])
def test_bad_selection_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ucfast.select(scores([0.1, 0.2, 0.3]), **kwargs)


def test_select_needs_scores():
    with pytest.raises(TypeError, match="ucfast.Scores"):
        ucfast.select(np.zeros(3), ratio=0.1)


@pytest.mark.parametrize("kwargs, match", [
    (dict(ratio=True), r"ratio must be a number, got True \(bool\)"),
    (dict(threshold=False), r"threshold must be a number, got False \(bool\)"),
    (dict(threshold=np.bool_(True)), r"threshold must be a number, got .*bool"),
    (dict(ratio="0.1"), r"ratio must be a number, got '0.1' \(str\)"),
    (dict(ratio=0.1, classes=[True]), "classes must be a class index or a non-empty list"),
    (dict(ratio=0.1, classes=[]), "classes must be a class index or a non-empty list"),
    (dict(ratio=0.1, per_class="yes"), "per_class must be True or False, got 'yes'"),
    (dict(method="best"), r"method must be one of \('ultraclean', 'auto'\)"),
])
def test_bools_and_other_non_numbers_are_refused(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ucfast.select(scores([0.1, 0.2, 0.3]), **kwargs)


def test_numpy_scalars_are_numbers():
    s = scores([0.1, 0.9, 0.5, 0.7, 0.2, 0.3, 0.8, 0.0, 0.6, 0.4], label=[0, 1] * 5)
    assert ucfast.select(s, ratio=np.float32(0.25)).removed.tolist() == ucfast.select(s, ratio=0.25).removed.tolist()
    assert ucfast.select(s, threshold=np.float64(0.5)).removed.tolist() == [1, 2, 3, 6, 8]
    assert ucfast.select(s, threshold=np.int64(1)).removed.size == 0
    assert ucfast.select(s, ratio=0.5, classes=np.int64(1)).removed.tolist() == [1, 3]


def test_check_resolves_the_method():
    from ucfast.selection import check

    assert check().method == "auto" and check(ratio=0.1).method == "ultraclean"
    assert check(ratio=0.1, method="auto").name == "auto, ratio=0.1"
    assert check(threshold=1, per_class=True, classes=[3, 1, 3]).name == "threshold=1.0, per_class, classes=[1, 3]"


def test_auto_without_features_says_it_is_the_weaker_ranking():
    rng = np.random.default_rng(0)
    total = rng.random(300).astype(np.float32)
    label = np.repeat(np.arange(3), 100)
    plain = scores(total, label)
    with pytest.warns(ucfast.selection.NoFeatures, match="without penultimate features"):
        ucfast.select(plain, method="auto", ratio=0.1)
    featured = ucfast.Scores(plain.total, plain.components, plain.pred, plain.label, plain.index,
                             features=rng.normal(size=(300, 8)).astype(np.float32))
    with warnings.catch_warnings():
        warnings.simplefilter("error", ucfast.selection.NoFeatures)
        ucfast.select(featured, method="auto", ratio=0.1)
