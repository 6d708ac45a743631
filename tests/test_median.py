"""The reference median against scipy, exactly, over sizes, batches, dtypes, layouts and image kinds."""
import numpy as np
import pytest
import scipy.ndimage
import torch

from tests import images as timg
from tests.oracles import per_image, scipy_median
from ucfast.reference.median import median, median_kxk

SIZES = [(1, 1), (2, 2), (7, 13), (32, 32), (237, 111)]


@pytest.mark.parametrize("h,w", SIZES)
@pytest.mark.parametrize("kind", ["random", "smoothed", "real"])
def test_median_equals_scipy(kind, h, w):
    x = timg.make(kind, 5 if h * w < 5000 else 1, h, w, seed=h * w)
    assert torch.equal(median(x), per_image(scipy_median, x))


@pytest.mark.skipif(not timg.have_fashion(), reason="Fashion-MNIST is not installed")
def test_median_equals_scipy_on_fashion_mnist():
    x = timg.make("fashion", 16, 28, 28)
    assert torch.equal(median(x), per_image(scipy_median, x))


@pytest.mark.parametrize("n", [0, 1, 5])
@pytest.mark.parametrize("lay", ["contiguous", "noncontiguous", "channels_last"])
@pytest.mark.parametrize("dtype", ["uint8", "float"])
def test_public_median_batches_layouts_dtypes(n, lay, dtype):
    import ucfast

    x = timg.make("random", n, 7, 13, seed=n)
    want = per_image(scipy_median, x)
    arg = timg.layout(x if dtype == "uint8" else timg.as_float(x), lay)
    got = ucfast.median(arg, backend="torch")
    assert got.shape == x.shape and got.is_contiguous()
    if dtype == "uint8":
        assert got.dtype == torch.uint8 and torch.equal(got, want)
    else:
        assert got.dtype == torch.float32 and torch.equal(got, want.float() / 255.0)


@pytest.mark.parametrize("k", [1, 3, 5])
@pytest.mark.parametrize("h,w", [(1, 1), (2, 3), (7, 13), (32, 32)])
def test_median_kxk_equals_scipy_per_channel(k, h, w):
    x = timg.make("random", 3, h, w, seed=k)
    want = per_image(lambda im: scipy.ndimage.median_filter(im, size=(k, k, 1), mode="reflect"), x)
    assert torch.equal(median_kxk(x, k), want)


def test_median_window_spans_channels_and_takes_upper_middle():
    # A 1 x 2 image; output (c=0, x=1) sees channels {0, 0, 1} x columns {0, 1} x rows {0, 0}:
    # 0 x4, 5 x2, 10 x4, 20 x2. The 7th smallest is 10; the lower middle (torch.median) is 5.
    x = torch.tensor([[0, 10], [5, 20], [7, 7]], dtype=torch.uint8).view(1, 3, 1, 2)
    assert int(median(x)[0, 0, 0, 1]) == 10
    assert np.array_equal(median(x)[0].permute(1, 2, 0).numpy(), scipy_median(x[0].permute(1, 2, 0).numpy()))


@pytest.mark.parametrize("k", [0, 2, -1])
def test_median_k_must_be_odd(k):
    import ucfast

    with pytest.raises(ValueError, match="k must be"):
        ucfast.median(torch.zeros(1, 3, 4, 4, dtype=torch.uint8), k=k)
