"""`ucfast.attacks`: seeded poisoned sets, the poison mask, label handling, triggers, bad input."""
import numpy as np
import pytest
import torch

from ucfast import attacks, models
from ucfast.data import ArrayDataset, synthetic

N = 200
NAMES = ("badnets", "blended", "sig", "lc", "wanet")
NEW = ("adap-blend", "adap-patch", "tact", "all-to-all", "two-targets")
COVERED = ("adap-blend", "adap-patch", "tact")
CLEAN_LABEL = {"sig", "lc"}


@pytest.fixture(scope="module")
def clean():
    return synthetic("train", N, seed=3)


def _options(name):
    if name != "lc":
        return {}
    torch.manual_seed(0)
    return {"surrogate": models.build("cnn", 10), "steps": 2, "mean": (0.5,) * 3, "std": (0.25,) * 3}


def _build(name, dataset, **kw):
    kw = {"target": 2, "rate": 0.05, "seed": 7, **kw}
    return attacks.build(name, dataset, **kw, **_options(name)).materialise()


@pytest.mark.parametrize("name", NAMES + NEW)
def test_same_seed_same_poisoned_set(clean, name):
    a, b = _build(name, clean), _build(name, clean)
    assert np.array_equal(a.poison_indices, b.poison_indices)
    assert np.array_equal(a.cover_indices, b.cover_indices)
    assert torch.equal(a.images, b.images)
    assert torch.equal(a.labels, b.labels)
    other = _build(name, clean, seed=8)
    assert not np.array_equal(a.poison_indices, other.poison_indices)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("rate", [0.02, 0.05])
def test_mask_count_is_rate_and_labels(clean, name, rate):
    a = _build(name, clean, rate=rate)
    assert a.poison_mask.dtype == bool and a.poison_mask.shape == (N,)
    assert a.poison_mask.sum() == a.poisoned_count == round(rate * N)
    assert np.array_equal(np.flatnonzero(a.poison_mask), a.poison_indices)
    original = clean.labels.numpy()
    labels = a.labels.numpy()
    if name in CLEAN_LABEL:
        assert a.clean_label
        assert (original[a.poison_mask] == 2).all()
        assert np.array_equal(labels, original)
    else:
        assert not a.clean_label
        assert (original[a.poison_mask] != 2).all()
        assert (labels[a.poison_mask] == 2).all()
        assert np.array_equal(labels[~a.poison_mask], original[~a.poison_mask])
    assert np.array_equal(a.clean_labels.numpy(), original)


@pytest.mark.parametrize("name", NAMES)
def test_trigger_changes_poisoned_images_only(clean, name):
    a = _build(name, clean)
    changed = (a.images != clean.images).flatten(1).any(1).numpy()
    assert changed[a.poison_mask].all()
    assert not changed[~a.poison_mask].any()
    i = int(a.poison_indices[0])
    image, label = a[i]
    assert image.dtype == torch.uint8 and torch.equal(image, a.images[i]) and label == 2


@pytest.mark.parametrize("name", NAMES)
def test_test_set_triggers_non_target_images(clean, name):
    a = _build(name, clean)
    test = synthetic("test", 60, seed=3)
    triggered = a.test_set(test)
    keep = test.labels != 2
    assert len(triggered) == int(keep.sum())
    assert torch.equal(triggered.labels, test.labels[keep])
    assert (triggered.images != test.images[keep]).flatten(1).any(1).all()
    single = a.apply_trigger(test.images[0])
    assert single.shape == (3, 32, 32) and single.dtype == torch.uint8


def test_badnets_stamps_the_authors_corner_pattern(clean):
    a = _build("badnets", clean)
    i = int(a.poison_indices[0])
    for c in range(3):
        assert torch.equal(a.images[i, c, -3:, -3:], attacks.PATTERN)
    assert torch.equal(a.images[i, :, :-3], clean.images[i, :, :-3])


def test_sig_adds_the_stripe_signal():
    flat = ArrayDataset(torch.full((20, 3, 8, 12), 100, dtype=torch.uint8), torch.arange(20) % 2)
    a = attacks.build("sig", flat, target=1, rate=0.25, seed=0)
    i = int(a.poison_indices[0])
    j = torch.arange(12, dtype=torch.float64)
    expected = torch.round(100 + 20 * torch.sin(2 * torch.pi * j * 6 / 12)).to(torch.uint8)
    assert torch.equal(a[i][0][1, 4], expected)


def test_blended_mixes_at_alpha():
    zeros = ArrayDataset(torch.zeros((10, 3, 4, 4), dtype=torch.uint8), torch.arange(10) % 2)
    pattern = torch.full((3, 4, 4), 200, dtype=torch.uint8)
    a = attacks.build("blended", zeros, target=0, rate=0.2, seed=0, alpha=0.25, pattern=pattern)
    assert (a[int(a.poison_indices[0])][0] == 50).all()


@pytest.mark.parametrize("kw, match", [
    ({"rate": 0.0}, "rate must be a fraction in \\(0, 1\\)"),
    ({"rate": 1.0}, "rate must be a fraction in \\(0, 1\\)"),
    ({"rate": -0.1}, "rate"),
    ({"target": 10}, "target must be a class index in 0..9"),
    ({"target": -1}, "target must be a class index"),
    ({"rate": 0.001}, "poisons none"),
])
@pytest.mark.parametrize("name", ["badnets", "sig"])
def test_bad_arguments_are_named(clean, name, kw, match):
    with pytest.raises(ValueError, match=match):
        attacks.build(name, clean, **{"target": 0, "rate": 0.1, "seed": 0, **kw})


def test_unknown_attack_and_too_few_target_samples(clean):
    with pytest.raises(ValueError, match="unknown attack 'nope'"):
        attacks.build("nope", clean)
    with pytest.raises(ValueError, match="class 0 holds only 20"):
        attacks.build("sig", clean, target=0, rate=0.5)
    with pytest.raises(ValueError, match="position must be one of"):
        attacks.build("badnets", clean, position="middle")
    with pytest.raises(TypeError, match="uint8"):
        _build("badnets", clean).apply_trigger(torch.zeros((3, 8, 8)))


class Constant(torch.nn.Module):
    """Predicts class `c` for every image."""

    def __init__(self, c, k=10):
        super().__init__()
        self.logits = torch.nn.Parameter(torch.nn.functional.one_hot(torch.tensor(c), k).float())

    def forward(self, x):
        return self.logits.expand(x.shape[0], -1)


@pytest.mark.parametrize("name", COVERED)
@pytest.mark.parametrize("cover_rate", [None, 0.03])
def test_cover_samples_are_disjoint_triggered_and_keep_labels(clean, name, cover_rate):
    a = _build(name, clean, **({} if cover_rate is None else {"cover_rate": cover_rate}))
    original = clean.labels.numpy()
    labels = a.labels.numpy()
    assert a.poisoned_count == round(0.05 * N) and a.cover_count == round((cover_rate or 0.05) * N)
    assert a.cover_mask.dtype == bool and np.array_equal(np.flatnonzero(a.cover_mask), a.cover_indices)
    assert not (a.poison_mask & a.cover_mask).any()
    assert (labels[a.poison_mask] == 2).all() and (original[a.poison_mask] != 2).all()
    assert np.array_equal(labels[~a.poison_mask], original[~a.poison_mask])
    assert (original[a.cover_mask] != 2).all()
    changed = (a.images != clean.images).flatten(1).any(1).numpy()
    assert np.array_equal(changed, a.poison_mask | a.cover_mask)
    i = int(a.cover_indices[0])
    assert torch.equal(a[i][0], a.images[i]) and a[i][1] == original[i]
    assert a.summary()["cover"] == a.cover_count


def test_tact_draws_payload_from_sources_and_cover_from_the_rest(clean):
    a = _build("tact", clean)
    original = clean.labels.numpy()
    assert a.sources == (3, 4) and a.summary()["sources"] == [3, 4]
    assert set(original[a.poison_mask]) <= {3, 4}
    assert not set(original[a.cover_mask]) & {2, 3, 4}
    b = _build("tact", clean, sources=[7, 0, 5])
    assert b.sources == (0, 5, 7) and set(clean.labels.numpy()[b.poison_mask]) <= {0, 5, 7}
    test = synthetic("test", 60, seed=3)
    triggered = a.test_set(test)
    keep = (test.labels == 3) | (test.labels == 4)
    assert torch.equal(triggered.labels, test.labels[keep]) and (triggered.intended == 2).all()
    assert (triggered.images[:, :, -3:, -3:] == attacks.PATTERN).all()


def test_all_to_all_shifts_every_class(clean):
    a = _build("all-to-all", clean, rate=0.2)
    original = clean.labels.numpy()
    assert len(set(original[a.poison_mask])) > 2 and 2 in set(original[a.poison_mask])
    assert np.array_equal(a.labels.numpy()[a.poison_mask], (original[a.poison_mask] + 1) % 10)
    assert np.array_equal(a.labels.numpy()[~a.poison_mask], original[~a.poison_mask])
    test = synthetic("test", 60, seed=3)
    triggered = a.test_set(test)
    assert torch.equal(triggered.labels, test.labels) and torch.equal(triggered.intended, (test.labels + 1) % 10)
    big = _build("all-to-all", clean, rate=0.2, scale=2)
    corner = big.images[big.poison_indices[0], 0, -6:, -6:]
    assert torch.equal(corner, attacks.PATTERN.repeat_interleave(2, 0).repeat_interleave(2, 1))


def test_two_targets_split_the_payload_between_two_triggers(clean):
    a = _build("two-targets", clean, rate=0.055)  # 11 payload samples: 6 -> 2, 5 -> 3
    original, labels = clean.labels.numpy(), a.labels.numpy()
    assert a.second_target == 3 and not set(original[a.poison_mask]) & {2, 3}
    assert (labels[a.poison_mask] == 2).sum() == 6 and (labels[a.poison_mask] == 3).sum() == 5
    first, second = a.poison_indices[labels[a.poison_indices] == 2], a.poison_indices[labels[a.poison_indices] == 3]
    assert (a.images[first, :, -3:, -3:] == attacks.PATTERN).all()
    assert (a.images[second, :, :3, :3] == 255 - attacks.PATTERN).all()
    assert torch.equal(a.images[second, :, 3:], clean.images[second, :, 3:])
    test = synthetic("test", 60, seed=3)
    triggered = a.test_set(test)
    y = test.labels
    assert torch.equal(triggered.labels, torch.cat([y[y != 2], y[y != 3]]))
    intended = torch.cat([torch.full((int((y != 2).sum()),), 2), torch.full((int((y != 3).sum()),), 3)])
    assert torch.equal(triggered.intended, intended)
    assert _build("two-targets", clean, second_target=7).summary()["second_target"] == 7


def _hand_asr(name, y, c):
    """What the ASR of a model always predicting c must be, from the test labels y alone."""
    if name == "all-to-all":
        return float(np.mean((y + 1) % 10 == c))
    if name == "two-targets":
        return ((y != 2).sum() * (c == 2) + (y != 3).sum() * (c == 3)) / ((y != 2).sum() + (y != 3).sum())
    return float(c == 2)


@pytest.mark.parametrize("name", ("badnets", "sig") + NEW)
def test_asr_of_a_constant_model_is_counted_against_the_intended_targets(clean, name):
    from ucfast import train

    a = _build(name, clean)
    test = synthetic("test", 60, seed=3)
    y = test.labels.numpy()
    for c in (1, 2, 3):
        asr = train.attack_success_rate(Constant(c), a, test, mean=(0.0,) * 3, std=(1.0,) * 3)
        assert asr == pytest.approx(_hand_asr(name, y, c))


def test_adaptive_blend_blends_half_the_pieces_then_the_whole_pattern():
    zeros = ArrayDataset(torch.zeros((20, 3, 8, 8), dtype=torch.uint8), torch.arange(20) % 2)
    pattern = torch.full((3, 8, 8), 200, dtype=torch.uint8)
    a = attacks.build("adap-blend", zeros, target=0, rate=0.1, seed=0, pattern=pattern).materialise()
    for i in np.concatenate([a.poison_indices, a.cover_indices]):
        image = a.images[int(i)]
        assert ((image == 30).sum(), (image == 0).sum()) == (3 * 32, 3 * 32)  # 8 of the 16 2x2 pieces at 0.15
    assert (a.apply_trigger(zeros.images[0]) == 40).all()
    chosen = [tuple((a.images[int(i), 0, ::2, ::2] > 0).flatten().tolist()) for i in a.poison_indices]
    assert len(set(chosen)) > 1


def test_adaptive_patch_blends_a_subset_then_pastes_all():
    zeros = ArrayDataset(torch.zeros((40, 3, 8, 8), dtype=torch.uint8), torch.arange(40) % 2)
    a = attacks.build("adap-patch", zeros, target=0, rate=0.1, seed=0, size=2).materialise()
    corners = [(slice(0, 2), slice(0, 2)), (slice(0, 2), slice(6, 8)), (slice(6, 8), slice(0, 2)),
               (slice(6, 8), slice(6, 8))]
    half = torch.round(a.colours.float() * 0.5).to(torch.uint8)
    subsets = set()
    for i in np.concatenate([a.poison_indices, a.cover_indices]):
        image = a.images[int(i)]
        used = tuple(bool(image[:, r, c].any()) for r, c in corners)
        assert any(used)
        for j, (r, c) in enumerate(corners):
            assert torch.equal(image[:, r, c], half[j] if used[j] else torch.zeros_like(half[j]))
        subsets.add(used)
    assert len(subsets) > 1
    full = a.apply_trigger(zeros.images[0])
    for j, (r, c) in enumerate(corners):
        assert torch.equal(full[:, r, c], a.colours[j])
    assert (full[:, 2:6, 2:6] == 0).all()


@pytest.mark.parametrize("name, kw, match", [
    ("adap-blend", {"alpha": 0}, "alpha must be a number in \\(0, 1\\]"),
    ("adap-blend", {"test_alpha": 1.5}, "test_alpha must be"),
    ("adap-blend", {"pieces_ratio": 0.01}, "chooses none"),
    ("adap-blend", {"grid": 0}, "grid must be a positive integer"),
    ("adap-blend", {"pattern": np.zeros((3, 4), np.uint8)}, "pattern must be uint8"),
    ("adap-blend", {"cover_rate": 1.0}, "cover_rate must be a fraction in \\[0, 1\\)"),
    ("adap-blend", {"cover_rate": 0.001}, "covers none"),
    ("adap-patch", {"patches": 5}, "patches must be an integer in 1..4"),
    ("adap-patch", {"size": 0}, "size must be a positive integer"),
    ("adap-patch", {"alpha": 2}, "alpha must be"),
    ("tact", {"sources": (2,)}, "sources must not hold a class whose samples keep their label"),
    ("tact", {"sources": (11,)}, "sources must be class indices in 0..9"),
    ("tact", {"sources": (3, 3)}, "sources must not repeat"),
    ("tact", {"sources": ()}, "sources is empty"),
    ("tact", {"cover_rate": 0.9}, "other than the target and the sources hold only"),
    ("two-targets", {"second_target": 2}, "second_target must be a class index in 0..9 other than target=2"),
    ("two-targets", {"second_target": 10}, "second_target must be"),
    ("two-targets", {"rate": 0.005}, "needs at least 2"),
    ("all-to-all", {"scale": 0}, "scale must be an integer in 1..8"),
    ("all-to-all", {"scale": 2.0}, "scale must be an integer in 1..8"),
])
def test_bad_new_attack_options_are_named(clean, name, kw, match):
    with pytest.raises(ValueError, match=match):
        _build(name, clean, **kw)


def test_bad_sources_type_and_too_few_classes(clean):
    with pytest.raises(TypeError, match="sources must be a sequence"):
        _build("tact", clean, sources=3)
    two = ArrayDataset(torch.zeros((20, 3, 8, 8), dtype=torch.uint8), torch.arange(20) % 2)
    with pytest.raises(ValueError, match="only 2 classes; give sources"):
        attacks.build("tact", two, target=0, rate=0.1)
    with pytest.raises(ValueError, match="smaller than the 4 x 4 piece grid"):
        attacks.build("adap-blend", ArrayDataset(torch.zeros((20, 3, 2, 2), dtype=torch.uint8), torch.arange(20) % 2),
                      rate=0.1).materialise()


def test_a_subset_of_the_triggered_set_keeps_each_image_s_intended_label(clean):
    a = _build("all-to-all", clean)
    full = a.test_set(synthetic("test", 60, seed=3))
    picked = np.array([5, 0, 17, 3])
    part = full.subset(picked)
    assert torch.equal(part.intended, full.intended[picked]) and torch.equal(part.labels, full.labels[picked])
    assert torch.equal(part.images, full.images[picked])


def test_badnets_scale_widens_each_cell_of_the_pattern(clean):
    a = _build("badnets", clean, scale=2)
    image = a.images[int(a.poison_indices[0])]
    h, w = image.shape[1:]
    want = attacks.PATTERN.repeat_interleave(2, 0).repeat_interleave(2, 1)
    assert torch.equal(image[:, h - 6:, w - 6:], want.expand(3, 6, 6))
    assert torch.equal(_build("badnets", clean).images, _build("badnets", clean, scale=1).images)
    with pytest.raises(ValueError, match="scale must be an integer in 1..8"):
        _build("badnets", clean, scale=0)
