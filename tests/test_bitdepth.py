"""Colour-depth reduction against the authors' round(x * 3) / 3."""
import pytest
import torch

from ucfast.reference.bitdepth import bitdepth


@pytest.mark.parametrize("levels", [2, 4, 5, 16, 256])
def test_bitdepth_equals_float_formula(levels):
    p = torch.arange(256, dtype=torch.uint8)
    q = torch.round(p.double() / 255 * (levels - 1)) / (levels - 1)
    assert torch.equal(bitdepth(p, levels), torch.floor(q * 255 + 0.5).to(torch.uint8))


def test_bitdepth_four_levels_values():
    p = torch.arange(256, dtype=torch.uint8)
    assert torch.unique(bitdepth(p)).tolist() == [0, 85, 170, 255]


def test_public_bitdepth_float_in_float_out():
    import ucfast

    x = torch.rand(2, 3, 5, 7)
    got = ucfast.bitdepth(x, backend="torch")
    assert got.dtype == torch.float32
    assert torch.allclose(got, torch.round(torch.round(x * 255) / 255 * 3) / 3, atol=1e-6)


@pytest.mark.parametrize("levels", [1, 257, 2.5])
def test_bitdepth_levels_checked(levels):
    import ucfast

    with pytest.raises(ValueError, match="levels"):
        ucfast.bitdepth(torch.zeros(1, 3, 2, 2, dtype=torch.uint8), levels=levels)
