"""`ucfast.score` against the authors' per-sample loop, and its contract with loaders and models."""
import numpy as np
import pytest
import scipy.stats
import torch
from torch.utils.data import DataLoader, Dataset

import ucfast
from tests import images as timg
from tests.oracles import authors_scores

MEAN, STD = (0.5, 0.45, 0.4), (0.25, 0.2, 0.3)


class Pixels(Dataset):
    def __init__(self, x, y, with_index=False):
        self.x, self.y, self.with_index = x, y, with_index

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        return (self.x[i], self.y[i], i) if self.with_index else (self.x[i], self.y[i])


@pytest.fixture(scope="module")
def data():
    x = torch.cat([timg.make("real", 12, 32, 32, seed=1), timg.make("smoothed", 12, 32, 32, seed=2)])
    return x, torch.arange(len(x)) % 10


@pytest.fixture(scope="module")
def model(data):
    """The small CNN fitted a little to the test images, so its outputs are not near-uniform."""
    x, y = data
    torch.manual_seed(0)
    m = ucfast.models.build("cnn", 10)
    opt = torch.optim.SGD(m.parameters(), lr=0.05, momentum=0.9)
    inputs = (x.float() / 255 - torch.tensor(MEAN).view(1, 3, 1, 1)) / torch.tensor(STD).view(1, 3, 1, 1)
    for _ in range(20):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(m(inputs), y).backward()
        opt.step()
    return m.eval()


@pytest.mark.parametrize("space", ["softmax", "logits"])
def test_score_equals_authors_loop(model, data, space):
    x, y = data
    want_total, want_parts = authors_scores(x, model, MEAN, STD, space)
    loader = DataLoader(Pixels(x, y), batch_size=7)
    got = ucfast.score(loader, model, mean=MEAN, std=STD, space=space, backend="torch", progress=False)
    assert np.array_equal(got.index, np.arange(len(x)))
    np.testing.assert_allclose(got.total, want_total, rtol=1e-5, atol=1e-7)
    for name in ("median", "nlm"):
        np.testing.assert_allclose(got.components[name], want_parts[name], rtol=1e-5, atol=1e-7)
    assert scipy.stats.spearmanr(got.total, want_total).statistic >= 0.9999
    np.testing.assert_array_equal(got.label, y.numpy())
    with torch.no_grad():
        pred = model((x.float() / 255 - torch.tensor(MEAN).view(1, 3, 1, 1)) / torch.tensor(STD).view(1, 3, 1, 1))
    np.testing.assert_array_equal(got.pred, pred.argmax(1).numpy())


def test_shuffled_loader_with_indices_gives_identical_scores(model, data):
    x, y = data
    kw = dict(mean=MEAN, std=STD, denoisers=("median",), backend="torch", progress=False)
    plain = ucfast.score(DataLoader(Pixels(x, y, True), batch_size=5), model, **kw)
    shuffled = ucfast.score(
        DataLoader(Pixels(x, y, True), batch_size=5, shuffle=True, generator=torch.Generator().manual_seed(3)),
        model, **kw)
    for field in ("total", "pred", "label", "index"):
        np.testing.assert_array_equal(getattr(plain, field), getattr(shuffled, field))


def test_shuffled_loader_without_indices_is_refused(model, data):
    x, y = data
    with pytest.raises(ValueError, match="shuffle.*indices|indices.*shuffle=False"):
        ucfast.score(DataLoader(Pixels(x, y), batch_size=5, shuffle=True), model, progress=False)


def test_dict_batches_grey_images_and_float_pixels(model):
    x = timg.make("smoothed", 6, 16, 16)[:, :1]  # N x 1 x H x W grey
    y = torch.zeros(6, dtype=torch.int64)
    batches = [{"image": x[:4].float() / 255, "label": y[:4], "index": torch.arange(2, 6)},
               {"image": x[4:, 0], "label": y[4:], "index": torch.tensor([0, 1])}]
    got = ucfast.score(batches, model, denoisers=("median", "bitdepth"), backend="torch", progress=False)
    ref = ucfast.score([(x.expand(-1, 3, -1, -1), y)], model, denoisers=("median", "bitdepth"),
                       backend="torch", progress=False)
    np.testing.assert_array_equal(got.index, np.arange(6))
    np.testing.assert_allclose(got.total[[2, 3, 4, 5, 0, 1]], ref.total[[0, 1, 2, 3, 4, 5]], rtol=1e-5, atol=1e-7)
    assert set(got.components) == {"median", "bitdepth"}


@pytest.mark.parametrize("distance", ["l2", "kl"])
def test_other_distances(model, data, distance):
    x, y = data
    got = ucfast.score([(x, y)], model, mean=MEAN, std=STD, denoisers=("median",), distance=distance,
                       backend="torch", progress=False)
    with torch.no_grad():
        norm = lambda z: (z.float() / 255 - torch.tensor(MEAN).view(1, 3, 1, 1)) / torch.tensor(STD).view(1, 3, 1, 1)
        p = torch.softmax(model(norm(x)), 1)
        q = torch.softmax(model(norm(ucfast.median(x))), 1)
    want = (p - q).norm(dim=1) if distance == "l2" else (p * (p.log() - q.log())).sum(1)
    np.testing.assert_allclose(got.total, want.numpy(), rtol=1e-4, atol=1e-6)


def test_model_state_is_restored_and_inference_mode_used(model, data):
    x, y = data
    modes = []
    hook = model.register_forward_hook(lambda m, i, o: modes.append((torch.is_inference_mode_enabled(), m.training)))
    try:
        for training in (True, False):
            model.train(training)
            ucfast.score([(x[:2], y[:2])], model, denoisers=("median",), progress=False)
            assert model.training == training
    finally:
        hook.remove()
        model.eval()
    assert modes == [(True, False), (True, False)]


def test_save_and_load_round_trip(model, data, tmp_path):
    x, y = data
    s = ucfast.score([(x[:4], y[:4])], model, denoisers=("median",), progress=False)
    s.save(tmp_path / "s.npz")
    t = ucfast.Scores.load(tmp_path / "s.npz")
    for field in ("total", "pred", "label", "index"):
        np.testing.assert_array_equal(getattr(s, field), getattr(t, field))
    np.testing.assert_array_equal(s.components["median"], t.components["median"])
    assert t.settings == s.settings


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(denoisers=("median", "gaussian")), "unknown denoiser 'gaussian'"),
        (dict(denoisers=()), "at least one"),
        (dict(denoisers=("median", "median")), "repeat"),
        (dict(space="probs"), "space must be one of"),
        (dict(distance="cosine"), "distance must be one of"),
        (dict(space="logits", distance="kl"), "needs space='softmax'"),
        (dict(amplify=float("nan")), "amplify"),
        (dict(mean=(0.5, 0.5)), "mean must be one number or 3"),
        (dict(std=(0.5, 0.0, 0.5)), "std must be positive"),
    ],
)
def test_bad_settings_are_named(model, data, kwargs, match):
    x, y = data
    with pytest.raises(ValueError, match=match):
        ucfast.score([(x[:2], y[:2])], model, progress=False, **kwargs)


def test_bad_batches_are_named(model, data):
    x, y = data
    kw = dict(denoisers=("median",), progress=False)
    with pytest.raises(ValueError, match="no samples"):
        ucfast.score([], model, **kw)
    with pytest.raises(ValueError, match="labels has 3 entries but the batch has 2"):
        ucfast.score([(x[:2], y[:3])], model, **kw)
    with pytest.raises(ValueError, match="indices has 1 entries but the batch has 2"):
        ucfast.score([(x[:2], y[:2], torch.tensor([0]))], model, **kw)
    with pytest.raises(ValueError, match="already normalised"):
        ucfast.score([(x[:2].float() / 255 - 0.5, y[:2])], model, **kw)
    with pytest.raises(ValueError, match="must yield"):
        ucfast.score([x[:2]], model, **kw)
    with pytest.raises(ValueError, match="more than once"):
        ucfast.score([(x[:2], y[:2], torch.tensor([0, 0]))], model, **kw)


def test_model_output_must_be_logits(data):
    x, y = data
    flat = torch.nn.Flatten(0)
    with pytest.raises(ValueError, match=r"model output must be logits of shape \[B, K\]"):
        ucfast.score([(x[:2], y[:2])], flat, denoisers=("median",), progress=False)
