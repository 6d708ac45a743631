import pytest
import torch

from ucfast import models


@pytest.mark.parametrize("width, features", [(64, 512), (16, 128), (3, 24)])
def test_resnet18_width_sets_every_stage_and_the_features_the_head_reads(width, features):
    model = models.resnet18(7, width=width).eval()
    assert model.fc.in_features == features
    assert model.stem[0].out_channels == width
    with torch.no_grad():
        assert model(torch.randn(2, 3, 32, 32)).shape == (2, 7)


def test_a_narrower_resnet18_holds_fewer_parameters_than_the_standard_one():
    def count(model):
        return sum(p.numel() for p in model.parameters())

    assert count(models.resnet18(10, width=16)) < count(models.resnet18(10)) / 10


@pytest.mark.parametrize("width", [0, -4, 2.5, True, "16"])
def test_resnet_width_that_is_not_a_positive_integer_is_refused(width):
    with pytest.raises(ValueError, match="width must be a positive integer"):
        models.resnet18(10, width=width)
