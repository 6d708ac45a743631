"""ucfast.detect and select(method=...): planted poison found in both directions, the paper's cut
unchanged, the automatic cut's report, bad input named."""
import math

import numpy as np
import pytest

import ucfast
from ucfast.detect import auto_cut, detect
from ucfast.detect import ALPHA
from ucfast.detect.calibrate import critical, strengths
from ucfast.detect.mixture import separation, split_two
from ucfast.detect.complete import complete_class, drawn_from
from ucfast.detect.subgroups import split_class
from ucfast.detect.whiten import class_axes, class_rows, reduce
from ucfast.metrics import auroc

K, PER_CLASS, PLANTED, D, STYLE = 10, 200, 120, 16, 3


def planted(direction, features=True, poison=True, seed=0, tight=1.0, rest=1.0, added=False, count=PLANTED):
    """Scores of K classes whose natural variation (a pose, a light or dark foreground) runs along a
    few STYLE directions shared by every class; every class holds two natural sub-types along one
    of them. Class 0 also holds PLANTED samples (in place of clean ones) that form their own feature
    mode off the shared directions (a trigger) and are 30x more (or less) susceptible than typical.
    tight < 1 shrinks the spread of class 1's sub-types off the shared directions (a sharper natural
    split, as Fashion-MNIST trousers) and makes them `1 / tight` times more stable, as easy samples are. rest scales the
    distances of class 0's clean samples. added: the planted samples come on top of class 0's
    PER_CLASS clean ones (dirty-label poison grows its target class) instead of in place of some;
    count: how many are planted."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 4, (K, D))
    style = np.linalg.qr(rng.normal(0, 1, (D, STYLE)))[0].T  # [STYLE, D] orthonormal shared directions
    subtype = rng.normal(0, 1, (K, STYLE)) @ style
    subtype *= 3.0 / np.linalg.norm(subtype, axis=1, keepdims=True)  # sub-types 6 apart, in the shared directions
    label = np.repeat(np.arange(K), [PER_CLASS + (count if added and poison else 0)] + [PER_CLASS] * (K - 1))
    n = label.size
    spread = np.where(label == 1, tight, 1.0)[:, None]
    feats = (centres[label] + np.where(rng.random(n) < 0.5, 1, -1)[:, None] * subtype[label]
             + spread * rng.normal(0, 1, (n, D)) + rng.normal(0, 2, (n, STYLE)) @ style)
    dist = np.exp(rng.normal(-3, 1, (n, 2))) * spread  # [N, 2] median / nlm distances
    mask = np.zeros(n, dtype=bool)
    if poison:
        rows = np.flatnonzero(label == 0)[:count]
        mask[rows] = True
        trigger = rng.normal(0, 1, D)
        trigger -= style.T @ (style @ trigger)
        feats[rows] = centres[0] + 8.0 * trigger / np.linalg.norm(trigger) + rng.normal(0, 0.7, (count, D))
        dist[rows] *= 30.0 if direction == "susceptible" else 1 / 30.0
        dist[np.flatnonzero(label == 0)[count:]] *= rest
    scores = ucfast.Scores(dist.sum(1).astype(np.float32), {"median": dist[:, 0].astype(np.float32),
                                                             "nlm": dist[:, 1].astype(np.float32)},
                           label.copy(), label, np.arange(n), features=feats.astype(np.float32) if features else None)
    return scores, mask


SEEDS = range(10)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("direction", ["susceptible", "stable"])
def test_planted_group_found_in_both_directions(direction, seed):
    scores, mask = planted(direction, seed=seed, added=True)
    det = detect(scores)
    assert auroc(det.values, mask) > 0.97
    assert det.flagged == [0]
    row = next(r for r in det.classes if r["class"] == 0)
    assert row["direction"] == direction and "departure" in row["named_by"].split("+")
    removed = ucfast.select(scores, method="auto").removed_mask
    assert removed[mask].mean() >= 0.9 and removed[~mask].mean() <= 0.02


@pytest.mark.parametrize("seed", SEEDS)
def test_the_suspect_group_is_the_poison_whichever_group_is_larger(seed):
    scores, mask = planted("stable", seed=seed)  # 120 of class 0's 200 samples poisoned in place
    det = detect(scores)
    row = next(r for r in det.classes if r["class"] == 0)
    assert row["suspect"] == PLANTED and auroc(det.values, mask) > 0.97
    assert det.posterior[mask].min() > 0.5 and det.posterior[(scores.label == 0) & ~mask].max() < 0.5


@pytest.mark.parametrize("seed", SEEDS)
def test_a_sharply_split_clean_class_is_not_taken_for_the_poisoned_one(seed):
    scores, mask = planted("stable", tight=0.3, seed=seed, added=True)
    det = detect(scores)
    strength = {r["class"]: r["strength"] for r in det.classes}
    assert det.flagged == [0] and strength[0] > 2 * strength[1]
    removed = ucfast.select(scores).removed_mask
    assert removed[mask].mean() >= 0.9 and removed[scores.label == 1].mean() == 0


@pytest.mark.parametrize("seed", SEEDS)
def test_the_suspect_group_is_not_the_one_with_the_odder_profile(seed):
    scores, mask = planted("stable", rest=300.0, seed=seed, added=True)  # class 0's clean samples far more susceptible
    det = detect(scores)
    assert det.flagged == [0] and auroc(det.values, mask) > 0.97
    assert next(r for r in det.classes if r["class"] == 0)["direction"] == "stable"


@pytest.mark.parametrize("seed", SEEDS)
def test_the_separation_of_two_groups_does_not_grow_with_the_smaller_ones_share(seed):
    rng = np.random.default_rng(seed)
    n, d, gap = 400, 4, 6.0
    found = {}
    for share in (0.05, 0.5):
        group = np.arange(n) < share * n
        y = rng.normal(0, 1, (n, d)) + np.where(group, gap, 0.0)[:, None] * np.eye(d)[0]
        found[share] = (separation(y, group.astype(float)), split_two(y)[1])
    (small, small_se), small_gain = found[0.05]
    (half, _), half_gain = found[0.5]
    assert abs(small - half) < 3 * small_se and small == pytest.approx(math.log(gap), abs=0.15)
    assert small_gain < half_gain  # the gain per sample does grow with it
    tiny = np.arange(n) < 2 * d  # fewer samples than the group's Gaussian has parameters
    assert all(math.isnan(v) for v in separation(rng.normal(0, 1, (n, d)), tiny.astype(float)))


@pytest.mark.parametrize("seed", SEEDS)
def test_groups_that_vary_alike_are_told_apart_by_their_distance_from_the_other_classes(seed):
    """Class 0's second group is its first moved away from the other classes: the two depart
    from the other classes' variation alike, and the moved group is named by its centroid."""
    rng = np.random.default_rng([seed, 0xCE])
    k, d, n = 6, 12, 150
    centres = rng.normal(0, 6, (k, d))
    away = centres[0] - centres[1:].mean(0)
    near = centres[0] + rng.normal(0, 1, (n, d))
    x = np.concatenate([near, near + 12.0 * away / np.linalg.norm(away),
                        *(centres[j] + rng.normal(0, 1, (2 * n, d)) for j in range(1, k))])
    label = np.repeat(np.arange(k), 2 * n)
    whitened = class_axes(x, class_rows(label, np.arange(k)), 4, only=[0])[0]
    split = split_class(whitened, rng.normal(0, 1, (2 * n, 2)), features=x[:2 * n], others=centres[1:])
    assert split.named_by == "centroid"
    assert (split.posterior[n:] > 0.5).all() and (split.posterior[:n] < 0.5).all()


def test_a_class_grown_by_dirty_label_poison_counts_its_excess_size():
    grown, mask = planted("stable", added=True)
    same, _ = planted("stable")
    det = detect(grown)
    row = next(r for r in det.classes if r["class"] == 0)
    plain = next(r for r in detect(same).classes if r["class"] == 0)
    assert row["size_z"] > 3 and row["strength"] > row["split_z"] / det.settings["critical"]
    assert plain["size_z"] == pytest.approx(0.0, abs=1e-9)


def _rows(scores, keep):
    """The Scores of the rows `keep` (a sorted index array), renumbered."""
    return ucfast.Scores(scores.total[keep], {k: v[keep] for k, v in scores.components.items()}, scores.pred[keep],
                         scores.label[keep], np.arange(keep.size), features=scores.features[keep])


@pytest.mark.parametrize("seed", SEEDS)
def test_in_a_grown_class_a_suspect_group_larger_than_the_growth_is_the_wrong_one(seed):
    scores, mask = planted("stable", seed=seed, added=True)  # class 0: 200 clean + 120 poison added
    clean0 = (scores.label == 0) & ~mask
    centre = scores.features[clean0].mean(0)
    scores.features[clean0] = centre + 0.2 * (scores.features[clean0] - centre)  # the genuine group departs most
    det = detect(scores)
    row = next(r for r in det.classes if r["class"] == 0)
    assert det.flagged == [0] and row["suspect"] == PLANTED and row["named_by"] == "size"
    assert det.posterior[mask].min() > 0.5 and det.posterior[clean0].max() < 0.5


@pytest.mark.parametrize("seed", SEEDS)
def test_the_largest_class_of_a_long_tail_is_not_cut_down_to_the_median(seed):
    scores, mask = planted("stable", seed=seed, added=True)  # class 0: 200 clean + 120 poison, the largest class
    sizes = np.round(100 * np.exp(0.3 * np.linspace(-1.5, 1.5, K - 1))).astype(int)  # 64 .. 157
    keep = np.sort(np.concatenate([np.flatnonzero(scores.label == 0)]
                                  + [np.flatnonzero(scores.label == c)[:m] for c, m in zip(range(1, K), sizes)]))
    tail, poison = _rows(scores, keep), mask[keep]
    det = detect(tail)
    assert det.flagged == [0] and not det.completed.any()  # its 200 genuine samples stay: 2x the median, not an outlier
    removed = ucfast.select(tail).removed_mask
    assert removed[poison].mean() >= 0.9 and removed[~poison].mean() <= 0.01


def _source_specific(seed, moved=100):
    """The clean planted classes, with `moved` samples of each of classes 1 and 2 relabelled 0 (a
    source-specific attack: two sources, one target), carrying a small trigger that keeps them
    inside their source's cloud, and 30x more stable."""
    scores, _ = planted("stable", poison=False, seed=seed)
    rng = np.random.default_rng([seed, 7])
    label, feats = scores.label.copy(), scores.features.copy()
    components = {k: v.copy() for k, v in scores.components.items()}
    trigger = rng.normal(0, 1, D)
    poison = np.zeros(label.size, dtype=bool)
    for source in (1, 2):
        rows = np.flatnonzero(label == source)[:moved]
        label[rows], poison[rows] = 0, True
        feats[rows] += (2.0 * trigger / np.linalg.norm(trigger)).astype(np.float32)
        for v in components.values():
            v[rows] /= 30.0
    return ucfast.Scores(sum(components.values()), components, label.copy(), label, np.arange(label.size),
                         features=feats), poison


@pytest.mark.parametrize("seed", SEEDS)
def test_a_source_specific_attack_is_cut_from_both_sources(seed):
    scores, poison = _source_specific(seed)  # class 0: 200 genuine + 100 from class 1 + 100 from class 2
    det = detect(scores)
    assert det.flagged == [0]
    removed = ucfast.select(scores).removed_mask  # one source's group split off: the other is completed
    assert removed[poison].mean() >= 0.95 and removed[~poison].mean() <= 0.01


@pytest.mark.parametrize("seed", SEEDS)
def test_a_wrong_suspect_group_in_a_grown_class_is_judged_against_the_sources_given_back(seed):
    """Two sources of 150 each, left at 50: a suspect group of the genuine 200 and one source's
    poison would leave 150, which the depleted sources' spread of sizes allows but the sizes its
    growth is measured against (the sources given back) do not; the other group is the poison."""
    scores, poison = _source_specific(seed, moved=150)
    removed = ucfast.select(scores).removed_mask
    assert removed[poison].mean() >= 0.95 and removed[~poison].mean() <= 0.01


@pytest.mark.parametrize("seed", SEEDS)
def test_sources_depleted_by_a_source_specific_attack_do_not_hide_the_targets_growth(seed):
    scores, _ = _source_specific(seed, moved=150)  # class 0: 200 + 300; classes 1 and 2 left at 50
    det = detect(scores)
    row = det.classes[0]
    assert det.flagged == [0]
    assert row["size_z"] >= det.settings["size_alone_critical"]  # flagged by its growth alone (1.9 left as they are)


def test_an_oversized_class_left_after_its_suspect_group_is_completed_from_its_near_group():
    scores, far = planted("stable", added=True)
    rng = np.random.default_rng(3)
    clean0 = np.flatnonzero((scores.label == 0) & ~far)[:150]  # rest 350 vs 200: size z 7.9
    shift = rng.normal(0, 1, D)
    near_feats = scores.features[clean0] + (4.0 * shift / np.linalg.norm(shift)).astype(np.float32)
    n = len(scores)
    grown = ucfast.Scores(np.concatenate([scores.total, scores.total[clean0]]),
                          {k: np.concatenate([v, v[clean0]]) for k, v in scores.components.items()},
                          np.concatenate([scores.pred, scores.pred[clean0]]),
                          np.concatenate([scores.label, scores.label[clean0]]), np.arange(n + clean0.size),
                          features=np.concatenate([scores.features, near_feats]))
    near = np.r_[np.zeros(n, dtype=bool), np.ones(clean0.size, dtype=bool)]
    poison = np.r_[far, np.zeros(clean0.size, dtype=bool)] | near
    det = detect(grown)
    assert det.flagged == [0] and not det.completed[:n][far].any()
    suspect = det.classes[0]["suspect"]  # far from every class: shared out evenly over the other classes
    assert det.completed.sum() == round((PER_CLASS + PLANTED + clean0.size - suspect) - (PER_CLASS + suspect / (K - 1)))
    assert det.completed[near].sum() >= 0.95 * det.completed.sum()  # what it takes is the near group
    removed = ucfast.select(grown).removed_mask
    assert removed[poison].mean() >= 0.9 and removed[~poison].mean() <= 0.01
    assert not detect(scores).completed.any()  # the suspect group alone brings the class back to size


@pytest.mark.parametrize("seed", SEEDS)
def test_completion_takes_the_left_over_group_that_answers_the_denoisers_as_the_suspect_group(seed):
    """The left-over poison lies beside one natural sub-type of its class, so the split of what is
    left pairs it with that sub-type: that group (180) is further in size from the excess (100)
    than the other sub-type alone (120), but it is the one whose stability is the suspect group's."""
    rng = np.random.default_rng([seed, 0xC0])
    k, d = 5, 12
    centres = rng.normal(0, 6, (k, d))
    sub = np.zeros(d)
    sub[0] = 3.0
    genuine = [centres[0] + sub + rng.normal(0, 1, (80, d)), centres[0] - sub + rng.normal(0, 1, (120, d))]
    left_over = centres[0] + sub + 1.5 * np.eye(d)[1] + rng.normal(0, 0.7, (100, d))
    suspect = centres[0] + 8.0 * np.eye(d)[2] + rng.normal(0, 0.7, (100, d))
    others = [centres[j] + rng.normal(0, 1, (200, d)) for j in range(1, k)]
    x = np.concatenate([*genuine, left_over, suspect, *others]).astype(np.float32)
    label = np.repeat(np.arange(k), [400] + [200] * (k - 1))
    profile = rng.normal(0, 1, (label.size, 2))
    profile[200:400] -= 3.0  # the left-over poison and the suspect group: stable under both denoisers
    rows = class_rows(label, np.arange(k))
    mask = np.zeros(label.size, dtype=bool)
    mask[300:400] = True
    taken = complete_class(x, rows, 0, mask, 200.0, 4, profile, ALPHA)
    assert taken.size == 100
    assert np.isin(taken, np.arange(80, 200)).mean() <= 0.05  # nothing from the other sub-type
    assert np.isin(taken, np.arange(200, 300)).mean() >= 0.75


def test_classes_unequal_by_nature_are_not_flagged_for_their_size():
    scores, _ = planted("stable", poison=False)
    rng = np.random.default_rng(5)
    extra = np.concatenate([np.repeat(np.flatnonzero(scores.label == c), copies)
                            for c, copies in ((1, 4), (2, 2), (3, 1), (4, 1))])  # a long tail: 1000, 600, 400, 400
    jitter = rng.normal(0, 0.3, (extra.size, D)).astype(np.float32)
    tail = ucfast.Scores(np.concatenate([scores.total, scores.total[extra]]),
                         {k: np.concatenate([v, v[extra]]) for k, v in scores.components.items()},
                         np.concatenate([scores.pred, scores.pred[extra]]),
                         np.concatenate([scores.label, scores.label[extra]]), np.arange(len(scores) + extra.size),
                         features=np.concatenate([scores.features, scores.features[extra] + jitter]))
    det = detect(tail)
    assert det.flagged == [] and not det.completed.any()
    assert ucfast.select(tail).removed.size == 0
    head = next(r for r in det.classes if r["class"] == 1)
    assert head["size_z"] > 3 and head["strength"] < 1  # its size stands out, not past the spread of a long tail


@pytest.mark.parametrize("k", [10, 1000])
def test_the_critical_value_holds_the_false_alarm_rate_per_data_set(k):
    *limits, _ = critical(k, ALPHA)
    rng = np.random.default_rng(99)  # other draws than the ones the critical value was simulated on
    trials = 3000 if k == 10 else 300
    t, u, s = rng.standard_normal((3, trials, k))
    split_z, combined_z, size_z, _ = strengths(t, 0.0, u, 0.0, s, 0.0)
    alarms = np.any([test.max(1) >= limit for test, limit in zip((split_z, combined_z, size_z), limits)], axis=0).mean()
    assert alarms <= ALPHA + 3 * np.sqrt(ALPHA / trials) and alarms >= ALPHA / 2


@pytest.mark.parametrize("seed", range(3))
def test_a_thousand_clean_classes_flag_none(seed):
    rng = np.random.default_rng(seed)
    k, per, d = 1000, 40, 12
    label = np.repeat(np.arange(k), per)
    centres, style = rng.normal(0, 4, (k, d)), rng.normal(0, 1, (3, d))
    feats = centres[label] + rng.normal(0, 1, (label.size, d)) + rng.normal(0, 1, (label.size, 3)) @ style
    dist = np.exp(rng.normal(-3, 1, (label.size, 2))).astype(np.float32)
    scores = ucfast.Scores(dist.sum(1), {"median": dist[:, 0], "nlm": dist[:, 1]}, label.copy(), label,
                           np.arange(label.size), features=feats.astype(np.float32))
    assert ucfast.select(scores).removed.size == 0


def test_suspect_samples_go_back_to_the_class_they_lie_inside_and_the_others_evenly():
    centroids = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0], [-10.0, 0.0]])
    radii = np.full(4, 4.0)  # squared: within 2 of a centroid
    group = np.array([[9.0, 0.5], [10.5, 0.0], [0.0, 11.0], [30.0, 30.0], [5.0, 5.0]])  # two in 1, one in 2, two in none
    share = drawn_from(group, centroids, radii, k=0)
    np.testing.assert_allclose(share, [0.0, 2 + 2 / 3, 1 + 2 / 3, 2 / 3])
    assert drawn_from(np.zeros((0, 2)), centroids, radii, k=0).sum() == 0


def test_whitening_finds_the_direction_no_other_class_varies_along():
    rng = np.random.default_rng(1)
    label = np.repeat(np.arange(5), 300)
    feats = rng.normal(0, 1, (label.size, 6))
    feats[:, 0] *= 10.0  # every class varies widely along axis 0 (a shared style)
    group = (label == 0) & (rng.random(label.size) < 0.4)
    feats[group, 1] += 6.0  # class 0 also splits along axis 1, less widely than the shared style
    axes = class_axes(reduce(feats), class_rows(label, np.arange(5)), 2)[0].axes
    first = axes[:, 0]
    assert max(auroc(first, group[label == 0]), auroc(-first, group[label == 0])) > 0.99
    raw = feats[label == 0] - feats[label == 0].mean(0)
    top = np.linalg.svd(raw, full_matrices=False)[2][0]
    assert abs(top[0]) > 0.9  # plain PCA would have split the shared style instead


def test_reduce_streams_float16_memmaps_as_it_reads_arrays(tmp_path):
    rng = np.random.default_rng(2)
    feats = rng.normal(0, 1, (3000, 300)).astype(np.float16)
    path = tmp_path / "f.npy"
    np.save(path, feats)
    mapped = np.load(path, mmap_mode="r")
    a, b = reduce(mapped), reduce(feats.astype(np.float64))
    assert a.dtype == np.float32 and a.shape == (3000, 256)
    assert np.allclose(np.abs(a[:, :8]), np.abs(b[:, :8]), atol=1e-2)


def test_no_method_and_no_budget_is_the_automatic_cut():
    scores, _ = planted("susceptible")
    default, auto = ucfast.select(scores), ucfast.select(scores, method="auto")
    assert default.method == "auto, cut=auto" and np.array_equal(default.removed, auto.removed)
    assert default.assumptions == auto.assumptions


def test_paper_score_fails_on_the_stable_group_the_detector_finds():
    scores, mask = planted("stable")
    assert auroc(scores.total.astype(np.float64), mask) < 0.3
    assert auroc(detect(scores).values, mask) > 0.97


@pytest.mark.parametrize("direction", ["susceptible", "stable"])
def test_without_features_the_distances_still_find_the_group(direction):
    scores, mask = planted(direction, features=False)
    det = detect(scores)
    assert auroc(det.values, mask) > 0.9 and det.classes[0]["named_by"] == "profile"


def test_clean_data_flags_no_class_and_the_cut_removes_little():
    scores, _ = planted("stable", poison=False)
    sel = ucfast.select(scores, method="auto")
    assert sel.assumptions["flagged_classes"] == {}
    assert sel.removed.size == 0


def test_auto_cut_reports_its_assumptions():
    scores, mask = planted("stable")
    sel = ucfast.select(scores, method="auto")
    a = sel.assumptions
    assert a["rate_given"] is False
    assert set(a["flagged_classes"]) == {0} and a["flagged_classes"][0]["direction"] == "stable"
    assert "departure" in a["flagged_classes"][0]["named_by"].split("+")
    assert a["removed"] == sel.removed.size and a["removed_share"] == pytest.approx(sel.removed.size / mask.size)
    assert any("most label classes are clean" in text for text in a["assumes"])
    assert a["false_alarm_rate"] == ALPHA
    assert sel.method == "auto, cut=auto"
    removed, again = auto_cut(detect(scores), scores.label)
    assert np.array_equal(removed, sel.removed_mask) and again == a


@pytest.mark.parametrize("kwargs", [dict(ratio=0.1), dict(ratio=0.37), dict(threshold=0.2),
                                    dict(ratio=0.1, classes=[0, 3]), dict(ratio=0.2, per_class=True)])
def test_ultraclean_is_the_papers_cut(kwargs):
    scores, _ = planted("susceptible")
    old = ucfast.select(scores, **kwargs)
    new = ucfast.select(scores, method="ultraclean", **kwargs)
    assert np.array_equal(old.removed, new.removed) and old.threshold == new.threshold and old.method == new.method
    if "ratio" in kwargs and "classes" not in kwargs and "per_class" not in kwargs:
        k = int(np.floor(kwargs["ratio"] * len(scores)))
        top = np.sort(np.lexsort((scores.index, -scores.total.astype(np.float64)))[:k])
        assert np.array_equal(new.removed, scores.index[top])


def test_auto_with_a_ratio_ranks_the_detector_values():
    scores, mask = planted("stable")
    sel = ucfast.select(scores, method="auto", ratio=PLANTED / mask.size)
    assert sel.removed.size == PLANTED and mask[sel.removed].mean() > 0.9
    assert sel.assumptions is None


@pytest.mark.parametrize("kwargs, match", [
    (dict(method="spectral"), r"method must be one of \('ultraclean', 'auto'\)"),
    (dict(method="auto", per_class=True), "per_class normalises the paper's score"),
    (dict(method="auto", ratio=0.1, threshold=0.5), "at most one of ratio or threshold"),
    (dict(method="ultraclean"), "exactly one of ratio or threshold"),
])
def test_bad_method_arguments(kwargs, match):
    scores, _ = planted("stable")
    with pytest.raises(ValueError, match=match):
        ucfast.select(scores, **kwargs)


def test_detect_bad_inputs_are_named():
    scores, _ = planted("stable")
    with pytest.raises(TypeError, match="ucfast.Scores"):
        detect(scores.total)
    with pytest.raises(ValueError, match="components must be a positive integer"):
        detect(scores, components=0)
    for bad in (float("nan"), 0.0, 0.5, True):
        with pytest.raises(ValueError, match=r"alpha must be a number in \(0, 0.5\)"):
            detect(scores, alpha=bad)
    two = ucfast.Scores(scores.total[:400], {"median": scores.components["median"][:400]}, scores.pred[:400],
                        scores.label[:400], scores.index[:400])
    with pytest.raises(ValueError, match="needs at least 3"):
        detect(two)
    bad = scores.components["nlm"].copy()
    bad[5] = np.nan
    broken = ucfast.Scores(scores.total, {"median": scores.components["median"], "nlm": bad}, scores.pred,
                           scores.label, scores.index, features=scores.features)
    with pytest.raises(ValueError, match="component nlm holds non-finite"):
        detect(broken)
