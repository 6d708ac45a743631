"""`ucfast.train`: fit learns a small task, is seeded, and CA / ASR count what they claim."""
import numpy as np
import pytest
import torch
from torch import nn

from ucfast import attacks, models, train
from ucfast.data import ArrayDataset, stats, synthetic


def _bright_dark(n, seed):
    """Class 1: bright images, class 0: dark ones, with noise."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 2
    base = np.where(labels == 1, 170, 80)[:, None, None, None]
    images = np.clip(base + rng.normal(0, 25, (n, 3, 8, 8)), 0, 255).astype(np.uint8)
    return ArrayDataset(images, labels)


def _tiny_model():
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Linear(4, 2))


class Constant(nn.Module):
    """Predicts `cls` for every input."""

    def __init__(self, cls, k=3):
        super().__init__()
        self.logits = nn.Parameter(torch.nn.functional.one_hot(torch.tensor(cls), k).float())

    def forward(self, x):
        return self.logits.expand(x.shape[0], -1)


def test_fit_learns_and_is_seeded():
    ds, test = _bright_dark(128, 0), _bright_dark(64, 1)
    mean, std = (0.5,) * 3, (0.25,) * 3
    torch.manual_seed(0)
    untrained = _tiny_model()
    before = train.accuracy(untrained, test, mean=mean, std=std, device="cpu")
    models = []
    for _ in range(2):
        torch.manual_seed(0)
        models.append(train.fit(_tiny_model(), ds, epochs=4, batch_size=16, lr=0.1, mean=mean, std=std,
                                device="cpu", progress=False))
    assert not models[0].training
    assert train.accuracy(models[0], test, mean=mean, std=std) >= 0.95 > before
    for a, b in zip(models[0].parameters(), models[1].parameters()):
        assert torch.equal(a, b)


def test_fit_on_indices_and_bad_arguments():
    ds = _bright_dark(32, 0)
    with pytest.raises(ValueError, match="epochs must be a positive integer"):
        train.fit(_tiny_model(), ds, epochs=0, progress=False)
    with pytest.raises(ValueError, match="nothing to train on"):
        train.fit(_tiny_model(), ds, indices=np.array([], dtype=np.int64), progress=False)
    model = train.fit(_tiny_model(), ds, epochs=1, indices=np.arange(8), device="cpu", progress=False)
    assert isinstance(model, nn.Module)


def test_augment_keeps_shape_and_content():
    x = torch.arange(2 * 3 * 6 * 6, dtype=torch.float32).reshape(2, 3, 6, 6)
    out = train.augment(x, torch.Generator().manual_seed(0), pad=2)
    assert out.shape == x.shape
    same = train.augment(x, torch.Generator().manual_seed(0), pad=2)
    assert torch.equal(out, same)
    unpadded = train.augment(x, torch.Generator().manual_seed(0), pad=0)
    assert all(torch.equal(u, v) or torch.equal(u, v.flip(2)) for u, v in zip(unpadded, x))


def test_accuracy_and_attack_success_rate_count_exactly():
    labels = np.array([0, 1, 2, 2, 1, 0, 2, 2])
    test = ArrayDataset(np.zeros((8, 3, 8, 8), np.uint8), labels)
    mean, std = (0.0,) * 3, (1.0,) * 3
    assert train.accuracy(Constant(2), test, mean=mean, std=std) == pytest.approx(0.5)
    predicted = train.predict(Constant(1), test, mean=mean, std=std, batch_size=3)
    assert predicted.tolist() == [1] * 8
    attack = attacks.build("badnets", ArrayDataset(np.zeros((20, 3, 8, 8), np.uint8), np.arange(20) % 3),
                           target=2, rate=0.1, seed=0)
    assert train.attack_success_rate(Constant(2), attack, test, mean=mean, std=std) == 1.0
    assert train.attack_success_rate(Constant(0), attack, test, mean=mean, std=std) == 0.0
    assert len(attack.test_set(test)) == 4  # the target-class images are left out


def test_small_cnn_learns_the_synthetic_dataset():
    train_set, test = synthetic("train", 2000, seed=0), synthetic("test", 300, seed=0)
    mean, std = stats(train_set)
    torch.manual_seed(0)
    model = train.fit(models.build("cnn", 10), train_set, epochs=4, batch_size=64, mean=mean, std=std,
                      device="cpu", progress=False)
    assert train.accuracy(model, test, mean=mean, std=std) >= 0.9
