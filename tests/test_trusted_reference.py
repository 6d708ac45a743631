"""`reference=`: trusted clean samples name which group of a flagged class is genuine."""
import numpy as np
import pytest

import ucfast
from ucfast.detect import detect
from ucfast.detect.complete import complete_class
from ucfast.detect.subgroups import split_class
from ucfast.detect.whiten import class_axes, class_rows

K, D, PER_CLASS, PLANTED = 10, 24, 200, 80
SEEDS = range(10)


def _features(rng, centres, label, genuine_zero, wide):
    """Unit within-class variation around each class centre; class 0's genuine members vary `wide`
    times more along 8 of the directions every class varies along (a heterogeneous class)."""
    feats = centres[label] + rng.normal(0, 1, (label.size, D))
    feats[genuine_zero, :8] = centres[0, :8] + wide * rng.normal(0, 1, (int(genuine_zero.sum()), 8))
    return feats


def _scores(rng, feats, label):
    dist = np.exp(rng.normal(-3, 1, (label.size, 2)))
    return ucfast.Scores(dist.sum(1).astype(np.float32), {"median": dist[:, 0].astype(np.float32),
                                                         "nlm": dist[:, 1].astype(np.float32)},
                         label.copy(), label, np.arange(label.size), features=feats.astype(np.float32))


def heterogeneous(seed, per_class_reference=3, reference_classes=range(K)):
    """Scores of K equal classes; in class 0, PLANTED samples (in place of genuine ones) sit off its
    centre along a trigger and vary as every class does, while its genuine members vary more than
    any other class: the group whose variation departs from the others' is the GENUINE one, which
    the default rule takes for the poison. The reference: per_class_reference fresh genuine samples
    of each class in reference_classes."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 6, (K, D))
    trigger = rng.normal(0, 1, D)
    label = np.repeat(np.arange(K), PER_CLASS)
    poison = np.zeros(label.size, dtype=bool)
    poison[:PLANTED] = True
    feats = _features(rng, centres, label, (label == 0) & ~poison, 2.5)
    feats[poison] = centres[0] + 10.0 * trigger / np.linalg.norm(trigger) + rng.normal(0, 1, (PLANTED, D))
    ref_label = np.repeat(np.asarray(list(reference_classes), dtype=np.int64), per_class_reference)
    reference = _scores(rng, _features(rng, centres, ref_label, ref_label == 0, 2.5), ref_label)
    return _scores(rng, feats, label), reference, poison


@pytest.mark.parametrize("seed", SEEDS)
def test_the_fixture_fools_the_default_rule(seed):
    """Without a reference the suspect group is the genuine one: the case the reference is for."""
    scores, _, poison = heterogeneous(seed)
    found = detect(scores)
    assert found.flagged == [0]
    suspect = found.posterior[:PER_CLASS] > 0.5  # class 0
    assert not (suspect & poison[:PER_CLASS]).any() and suspect.sum() == PER_CLASS - PLANTED
    assert found.classes[0]["named_by"] == "departure"


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("per_class", [1, 3])
def test_a_few_reference_samples_name_the_genuine_group(seed, per_class):
    scores, reference, poison = heterogeneous(seed, per_class)
    found = detect(scores, reference=reference)
    row = found.classes[0]
    assert found.flagged == [0] and row["by_reference"] and row["reference_rows"] == per_class
    assert row["named_by"] == "reference"
    assert row["reference_evidence"] >= np.log(1 / found.settings["alpha"])
    assert ((found.posterior[:PER_CLASS] > 0.5) == poison[:PER_CLASS]).all()  # class 0
    cut = ucfast.select(scores, reference=reference).removed_mask
    assert cut[poison].all() and not cut[~poison].any()
    assert found.settings["reference"] == per_class * K


@pytest.mark.parametrize("seed", SEEDS)
def test_a_reference_without_the_flagged_class_leaves_it_as_it_was(seed):
    scores, reference, _ = heterogeneous(seed, reference_classes=range(1, K))
    plain, found = detect(scores), detect(scores, reference=reference)
    assert found.flagged == plain.flagged == [0]
    assert np.array_equal(plain.values[:PER_CLASS], found.values[:PER_CLASS])
    assert found.classes[0]["reference_rows"] == 0 and not found.classes[0]["by_reference"]


def _variant(reference, **changes):
    fields = {"total": reference.total, "components": reference.components, "pred": reference.pred,
              "label": reference.label, "index": reference.index, "features": reference.features}
    fields.update(changes)
    return ucfast.Scores(fields["total"], fields["components"], fields["pred"], fields["label"], fields["index"],
                         features=fields["features"])


def test_bad_references_are_refused_before_the_work():
    scores, reference, _ = heterogeneous(0)
    with pytest.raises(TypeError, match="reference must be ucfast.Scores"):
        detect(scores, reference=reference.features)
    with pytest.raises(ValueError, match="the reference hold no penultimate features"):
        detect(scores, reference=_variant(reference, features=None))
    with pytest.raises(ValueError, match=r"the scores hold no penultimate features"):
        detect(_variant(scores, features=None), reference=reference)
    with pytest.raises(ValueError, match=rf"must be \[M, {D}\].*got shape \(30, 12\)"):
        detect(scores, reference=_variant(reference, features=reference.features[:, :12]))
    with pytest.raises(ValueError, match=r"reference labels \[10\] are no label class"):
        detect(scores, reference=_variant(reference, label=np.where(reference.label == 9, 10, reference.label)))
    bad = reference.features.copy()
    bad[3, 2] = np.nan
    with pytest.raises(ValueError, match="reference.features hold non-finite"):
        detect(scores, reference=_variant(reference, features=bad))
    with pytest.raises(ValueError, match="reference= is used by method='auto'"):
        ucfast.select(scores, ratio=0.1, reference=reference)


@pytest.mark.parametrize("seed", SEEDS)
def test_a_reference_chooses_the_group_that_completes_a_flagged_class(seed):
    """What is left of class 0 after its suspect group: 200 genuine samples and 100 left-over poison
    apart from them, with the genuine ones, not the poison, answering the denoisers as the suspect
    group does: the stability rule takes the genuine samples; three reference samples of the
    class take the poison."""
    rng = np.random.default_rng([seed, 0xC1])
    k, d = 5, 12
    centres = rng.normal(0, 6, (k, d))
    genuine = centres[0] + rng.normal(0, 1, (200, d))
    left_over = centres[0] + 5.0 * np.eye(d)[1] + rng.normal(0, 0.7, (100, d))
    suspect = centres[0] + 8.0 * np.eye(d)[2] + rng.normal(0, 0.7, (100, d))
    others = [centres[j] + rng.normal(0, 1, (200, d)) for j in range(1, k)]
    x = np.concatenate([genuine, left_over, suspect, *others]).astype(np.float32)
    label = np.repeat(np.arange(k), [400] + [200] * (k - 1))
    profile = rng.normal(0, 1, (label.size, 2))
    profile[:200] -= 3.0
    profile[300:400] -= 3.0  # the genuine samples and the suspect group: stable under both denoisers
    rows = class_rows(label, np.arange(k))
    mask = np.zeros(label.size, dtype=bool)
    mask[300:400] = True
    reference = (centres[0] + rng.normal(0, 1, (3, d))).astype(np.float64)
    plain = complete_class(x, rows, 0, mask, 200.0, 4, profile, 0.05)
    given = complete_class(x, rows, 0, mask, 200.0, 4, profile, 0.05, reference=reference)
    assert plain.size == given.size == 100
    assert np.isin(plain, np.arange(200)).all()
    assert np.isin(given, np.arange(200, 300)).all()


def _two_groups(seed, gap, references):
    """Class 0 of 5: 150 genuine samples and 100 planted ones `gap` spreads away along one axis;
    split on its whitened axes, given `references` fresh genuine samples."""
    rng = np.random.default_rng([seed, 0xB0])
    k, d = 5, 12
    centres = rng.normal(0, 6, (k, d))
    genuine = centres[0] + rng.normal(0, 1, (150, d))
    planted_rows = centres[0] + gap * np.eye(d)[0] + rng.normal(0, 1, (100, d))
    x = np.concatenate([genuine, planted_rows, *(centres[j] + rng.normal(0, 1, (250, d)) for j in range(1, k))])
    whitened = class_axes(x, class_rows(np.repeat(np.arange(k), 250), np.arange(k)), 4, only=[0])[0]
    reference = (centres[0] + rng.normal(0, 1, (references, d)) - whitened.centre) @ whitened.to_axes
    return split_class(whitened, rng.normal(0, 1, (250, 2)), features=x[:250], others=centres[1:],
                       reference=reference, alpha=0.05)


@pytest.mark.parametrize("references", [1, 3])
def test_the_reference_names_the_wrong_group_at_most_alpha_of_the_time(references):
    """300 classes whose planted group lies 3 spreads from the genuine one: the reference decides
    on at least half of them, and is wrong on at most alpha of all."""
    splits = [_two_groups(seed, 3.0, references) for seed in range(300)]
    decided = [s for s in splits if s.by_reference]
    wrong = sum((s.posterior[:150] > 0.5).sum() > (s.posterior[150:] > 0.5).sum() for s in decided)
    assert len(decided) >= 150 and wrong <= 0.05 * len(splits)
