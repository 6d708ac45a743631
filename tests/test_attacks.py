"""`ucfast.attacks`: seeded poisoned sets, the poison mask, label handling, triggers, bad input."""
import numpy as np
import pytest
import torch

from ucfast import attacks, models
from ucfast.data import ArrayDataset, synthetic

N = 200
NAMES = ("badnets", "blended", "sig", "lc", "wanet")
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


@pytest.mark.parametrize("name", NAMES)
def test_same_seed_same_poisoned_set(clean, name):
    a, b = _build(name, clean), _build(name, clean)
    assert np.array_equal(a.poison_indices, b.poison_indices)
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
