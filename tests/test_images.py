"""Bad image input gets an error that names the problem; good input is converted exactly."""
import numpy as np
import pytest
import torch

from ucfast.images import check_images, to_uint8


def test_grey_is_repeated_to_three_channels():
    x = torch.randint(0, 256, (2, 5, 7), dtype=torch.uint8)
    for grey in (x, x.unsqueeze(1)):
        out = check_images(grey)
        assert out.shape == (2, 3, 5, 7)
        assert all(torch.equal(out[:, c], x) for c in range(3))


def test_numpy_input_is_accepted():
    assert check_images(np.zeros((1, 3, 2, 2), dtype=np.uint8)).shape == (1, 3, 2, 2)


def test_float_rounds_to_nearest():
    x = torch.tensor([0.0, 0.5 / 255, 0.49 / 255, 1.0, 100.6 / 255]).view(1, 1, 1, 5).expand(1, 3, 1, 5)
    assert to_uint8(x)[0, 0, 0].tolist() == [0, 0, 0, 255, 101]


@pytest.mark.parametrize(
    "images, error, match",
    [
        (torch.rand(1, 3, 4, 4) * 2 - 1, ValueError, "already normalised"),
        (torch.rand(1, 3, 4, 4) * 255, ValueError, "0..1"),
        (torch.zeros(3, 4, 4, 1, 1), ValueError, "shape"),
        (torch.zeros(4), ValueError, "shape"),
        (torch.zeros(1, 2, 4, 4), ValueError, "channels"),
        (torch.zeros(1, 4, 4, 3), ValueError, "channels-last"),
        (torch.full((1, 3, 2, 2), float("nan")), ValueError, "NaN"),
        (torch.full((1, 3, 2, 2), float("inf")), ValueError, "NaN or Inf"),
        (torch.zeros(1, 3, 2, 2, dtype=torch.int32), TypeError, "uint8"),
        ([[0, 1]], TypeError, "torch.Tensor or numpy"),
    ],
)
def test_bad_images_are_named(images, error, match):
    with pytest.raises(error, match=match):
        check_images(images, "images")


def test_denoisers_need_three_channels():
    import ucfast

    with pytest.raises(ValueError, match="3 channels"):
        ucfast.median(torch.zeros(1, 1, 4, 4, dtype=torch.uint8))
