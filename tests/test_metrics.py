"""Detection metrics against brute-force definitions."""
import itertools
import math

import numpy as np
import pytest

import ucfast
from tests.test_select import scores
from ucfast.metrics import auprc, auroc, tpr_at_fpr


def brute_auroc(v, pos):
    pairs = [(a, b) for a, b in itertools.product(v[pos], v[~pos])]
    return sum(1.0 if a > b else 0.5 if a == b else 0.0 for a, b in pairs) / len(pairs)


def brute_ap(v, pos):
    # Average precision over tie groups, descending threshold.
    ap, prev_recall = 0.0, 0.0
    for t in sorted(set(v.tolist()), reverse=True):
        sel = v >= t
        tp = (sel & pos).sum()
        recall = tp / pos.sum()
        ap += (recall - prev_recall) * tp / sel.sum()
        prev_recall = recall
    return ap


@pytest.mark.parametrize("seed", range(5))
def test_ranking_metrics_match_brute_force(seed):
    rng = np.random.default_rng(seed)
    v = np.round(rng.normal(size=60), 1)  # ties on purpose
    pos = rng.random(60) < 0.3
    assert auroc(v, pos) == pytest.approx(brute_auroc(v, pos))
    assert auprc(v, pos) == pytest.approx(brute_ap(v, pos))


def test_tpr_at_fpr():
    v = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1, 0.0])
    pos = np.array([1, 1, 0, 1, 0, 0, 0, 0, 0, 0], bool)
    assert tpr_at_fpr(v, pos, 0.0) == pytest.approx(2 / 3)
    assert tpr_at_fpr(v, pos, 1 / 7) == pytest.approx(1.0)


def test_detection_of_selection_counts_and_rates():
    s = scores([0.9, 0.8, 0.7, 0.1, 0.2, 0.3, 0.05, 0.0, 0.15, 0.6], label=[0, 0, 0, 1, 1, 1, 1, 1, 1, 1])
    poison = np.array([1, 1, 0, 0, 0, 0, 0, 0, 0, 1], bool)
    d = ucfast.metrics.detection(ucfast.select(s, ratio=0.3), poison)
    assert (d["tp"], d["fp"], d["fn"], d["tn"]) == (2, 1, 1, 6)
    assert d["tpr"] == pytest.approx(2 / 3) and d["fpr"] == pytest.approx(1 / 7)
    assert d["precision"] == pytest.approx(2 / 3) and d["f1"] == pytest.approx(2 / 3)
    assert d["n"] == 10 and d["poisoned"] == 3
    assert set(d["per_class"]) == {0, 1}
    assert d["per_class"][1]["tp"] == 0 and d["per_class"][1]["fn"] == 1


def test_detection_of_scores_and_poison_mask_by_position():
    s = scores([0.9, 0.1, 0.8], index=[4, 0, 2])
    poison = np.zeros(5, bool)
    poison[[4, 2]] = True
    d = ucfast.metrics.detection(s, poison)
    assert d["auroc"] == 1.0 and "tp" not in d
    with pytest.raises(ValueError, match="one entry per dataset position"):
        ucfast.metrics.detection(s, poison[:3])


def test_single_class_metrics_are_nan():
    d = ucfast.metrics.detection(scores([0.1, 0.2]), np.zeros(2, bool))
    assert math.isnan(d["auroc"]) and math.isnan(d["auprc"])
