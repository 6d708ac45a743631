"""The reference NLM against OpenCV, exactly: colour images, single planes, weights and validation."""
import gzip
import math
import re

import cv2
import numpy as np
import pytest
import torch

from tests import images as timg
from tests.oracles import opencv_nlm, per_image
from ucfast.reference.nlm import check_nlm_args, nlm, nlm_plane, nlm_weights

SIZES = [(1, 1), (2, 2), (7, 13), (32, 32), (237, 111)]
TINY = [(1, 1), (1, 2), (2, 1), (2, 2), (1, 7), (7, 1), (2, 3), (3, 5)]
PARAMS = [  # h, h_color, template, search
    (5.0, 5.0, 7, 13),
    (10.0, 3.0, 5, 9),
    (3.0, 3.0, 3, 21),
    (7.3, 2.2, 7, 13),
]


def _batch(h: int, w: int) -> int:
    return 5 if h * w < 5000 else 1


def _want(x: torch.Tensor, *params) -> torch.Tensor:
    return per_image(lambda img: opencv_nlm(img, *params), x)


def _planes(kind: str, n: int, h: int, w: int, cn: int, seed: int = 0) -> torch.Tensor:
    """[N, cn, H, W] uint8 planes cut from test images of the given kind."""
    x = timg.make(kind, n, h, w, seed=seed)
    return x[:, :cn] if cn <= 3 else torch.cat([x, x[:, :1]], 1)


def _cv_plane(x: torch.Tensor, h: float, template: int, search: int) -> torch.Tensor:
    """cv2.fastNlMeansDenoising on each [cn, H, W] plane of x."""
    def one(img: torch.Tensor) -> torch.Tensor:
        out = cv2.fastNlMeansDenoising(img.permute(1, 2, 0).contiguous().numpy(), None, h, template, search)
        return torch.from_numpy(out.reshape(img.shape[1], img.shape[2], -1)).permute(2, 0, 1)

    return torch.stack([one(img) for img in x])


def _fashion_grey(n: int) -> np.ndarray:
    with gzip.open(timg.FASHION, "rb") as f:
        raw = np.frombuffer(f.read(16 + 28 * 28 * n), dtype=np.uint8, offset=16)
    return raw.reshape(n, 28, 28).copy()


@pytest.mark.parametrize("h,w", SIZES)
@pytest.mark.parametrize("kind", ["random", "smoothed", "real"])
def test_nlm_equals_opencv(kind, h, w):
    x = timg.make(kind, _batch(h, w), h, w, seed=h * w)
    assert torch.equal(nlm(x), _want(x))


@pytest.mark.parametrize("params", PARAMS)
@pytest.mark.parametrize("kind", ["random", "smoothed", "real"])
def test_nlm_equals_opencv_with_other_parameters(kind, params):
    x = timg.make(kind, 2, 29, 41, seed=len(kind))
    assert torch.equal(nlm(x, *params), _want(x, *params))


@pytest.mark.skipif(not timg.have_fashion(), reason="Fashion-MNIST is not installed")
@pytest.mark.parametrize("tint", [False, True])
def test_nlm_equals_opencv_on_fashion_mnist(tint):
    if tint:
        x = timg.make("fashion", 16, 28, 28)
    else:
        x = torch.from_numpy(_fashion_grey(16)).unsqueeze(1).repeat(1, 3, 1, 1)
    assert torch.equal(nlm(x), _want(x))


@pytest.mark.parametrize("h,w", TINY)
@pytest.mark.parametrize("params", [PARAMS[0], PARAMS[2]])
def test_nlm_equals_opencv_on_tiny_images(h, w, params):
    # The border (template//2 + search//2) is longer than the image: reflection repeats.
    x = timg.make("random", 3, h, w, seed=h + 7 * w)
    assert torch.equal(nlm(x, *params), _want(x, *params))


@pytest.mark.parametrize("n", [0, 1, 5])
@pytest.mark.parametrize("lay", ["contiguous", "noncontiguous", "channels_last"])
def test_nlm_batches_and_layouts(n, lay):
    x = timg.make("smoothed", n, 7, 13, seed=n)
    got = nlm(timg.layout(x, lay))
    assert got.shape == x.shape and got.dtype == torch.uint8 and got.is_contiguous()
    assert torch.equal(got, _want(x))


def test_nlm_of_a_sliced_view():
    big = timg.make("real", 2, 40, 50, seed=3)
    x = big[:, :, 5:37:2, 3:50:3]  # strided rows and columns
    assert torch.equal(nlm(x), _want(x.contiguous()))


@pytest.mark.parametrize("cn", [1, 2, 3, 4])
@pytest.mark.parametrize("kind", ["random", "smoothed", "real"])
@pytest.mark.parametrize("h,w", [(1, 1), (2, 3), (7, 13), (32, 32)])
def test_nlm_plane_equals_opencv(kind, cn, h, w):
    x = _planes(kind, 3, h, w, cn, seed=cn)
    assert torch.equal(nlm_plane(x, 5.0), _cv_plane(x, 5.0, 7, 13))


@pytest.mark.parametrize("h", [0.5, 3.0, 12.5, 1e-30, 1e30])
@pytest.mark.parametrize("template,search", [(3, 5), (5, 9), (7, 13), (9, 3), (1, 1)])
def test_nlm_plane_equals_opencv_with_other_parameters(h, template, search):
    x = _planes("smoothed", 2, 23, 17, 1, seed=template)
    assert torch.equal(nlm_plane(x, h, template, search), _cv_plane(x, h, template, search))


def test_nlm_plane_on_a_large_grey_image():
    x = _planes("real", 1, 237, 111, 1)
    assert torch.equal(nlm_plane(x, 5.0), _cv_plane(x, 5.0, 7, 13))


@pytest.mark.parametrize("cn", [1, 2])
def test_default_weight_table_matches_the_spec(cn):
    table, shift, mult = nlm_weights(5.0, cn)
    assert (shift, mult) == (6, 49831) and table.dtype == torch.int32
    assert table.shape == (int(255 * 255 * cn / (64 / 49) + 1),)
    k = np.arange(table.shape[0])
    spec = np.rint(49831 * np.exp(-(k * 64 / 49) / (25.0 * cn)))
    spec[spec < 0.001 * 49831] = 0
    assert int(table[0]) == mult and np.array_equal(table.numpy(), spec.astype(np.int32))


@pytest.mark.parametrize("template,search,shift", [(3, 21, 4), (5, 9, 5), (9, 13, 7), (1, 1, 0)])
def test_weight_table_shape_for_other_windows(template, search, shift):
    table, got_shift, mult = nlm_weights(3.0, 1, template, search)
    assert got_shift == shift and mult == (2**31 - 1) // (search * search * 255)
    assert table.shape == (int(255 * 255 / (2**shift / template**2) + 1),) and int(table[0]) == mult


@pytest.mark.parametrize("name,bad", [
    ("h", 0), ("h", -1.0), ("h", math.nan), ("h", math.inf), ("h", "5"), ("h", True), ("h", None),
    ("h_color", 0.0), ("h_color", -3), ("h_color", math.nan),
    ("template", 0), ("template", 4), ("template", -3), ("template", 7.0), ("template", True), ("template", 46341),
    ("search", 0), ("search", 12), ("search", 13.0), ("search", None), ("search", 2903),
])
def test_check_nlm_args_names_the_bad_argument(name, bad):
    args = {"h": 5.0, "h_color": 5.0, "template": 7, "search": 13, name: bad}
    with pytest.raises(ValueError, match=rf"^{name} must be .*, got {re.escape(repr(bad))}$"):
        check_nlm_args(**args)
    with pytest.raises(ValueError, match=rf"^{name} must be"):
        nlm(torch.zeros(1, 3, 4, 4, dtype=torch.uint8), **args)


@pytest.mark.parametrize("args", [(5, 5, 7, 13), (np.float32(2.5), np.float64(1.0), np.int64(3), 5), (0.1, 1e6, 1, 1)])
def test_check_nlm_args_accepts_good_values(args):
    check_nlm_args(*args)


def test_nlm_rejects_wrong_images():
    with pytest.raises(ValueError, match="uint8"):
        nlm(torch.zeros(1, 3, 4, 4))
    with pytest.raises(ValueError, match=r"\[N, 3, H, W\]"):
        nlm(torch.zeros(1, 1, 4, 4, dtype=torch.uint8))
    with pytest.raises(ValueError, match="cn in 1..4"):
        nlm_plane(torch.zeros(1, 5, 4, 4, dtype=torch.uint8), 5.0)


@pytest.mark.parametrize("dtype", ["uint8", "float"])
def test_public_nlm_with_the_torch_backend(dtype):
    import ucfast

    x = timg.make("real", 2, 11, 9, seed=5)
    want = _want(x)
    got = ucfast.nlm(x if dtype == "uint8" else timg.as_float(x), backend="torch")
    assert torch.equal(got, want if dtype == "uint8" else want.float() / 255.0)
