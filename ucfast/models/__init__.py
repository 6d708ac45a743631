"""Classifiers for the demo, the tests and the benchmarks: `ucfast.models.build(name, num_classes)`.

ucfast's own models ("cnn", "resnet18", "resnet50") take images normalised with the dataset's
mean/std (the training code in `ucfast.train` normalises, and the same mean/std go to
`ucfast.score`); they return logits [B, num_classes]. Any other name is looked up among the
torchvision classifiers when torchvision imports.
"""
from __future__ import annotations

from collections.abc import Callable

from torch import nn

from .cnn import SmallCNN
from .resnet import ResNet, resnet18, resnet50

MODELS: dict[str, Callable[..., nn.Module]] = {
    "cnn": lambda num_classes, in_channels=3: SmallCNN(num_classes, in_channels),
    "resnet18": resnet18,
    "resnet50": resnet50,
}


def _torchvision_models():
    """torchvision.models, or the reason it cannot be used."""
    try:
        import torchvision.models
    except Exception as e:  # ImportError, or a torch/torchvision build mismatch raising at import
        return None, f"{type(e).__name__}: {e}"
    return torchvision.models, ""


def build(name: str, num_classes: int, in_channels: int = 3) -> nn.Module:
    """A freshly initialised classifier. `name`: "cnn" (small, fast, for 32 x 32), "resnet18"
    (CIFAR-style), "resnet50" (ImageNet-style), or any torchvision classifier name."""
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 2:
        raise ValueError(f"num_classes must be an integer >= 2, got {num_classes!r}")
    if isinstance(in_channels, bool) or not isinstance(in_channels, int) or in_channels < 1:
        raise ValueError(f"in_channels must be a positive integer, got {in_channels!r}")
    if not isinstance(name, str):
        raise TypeError(f"model name must be a string, got {type(name).__name__}")
    key = name.lower()
    if key in MODELS:
        return MODELS[key](num_classes, in_channels)
    tv, why = _torchvision_models()
    if tv is None:
        raise ValueError(f"unknown model {name!r}; known: {sorted(MODELS)} (torchvision classifiers are also"
                         f" accepted where torchvision imports; here it does not: {why})")
    known = tv.list_models(module=tv)
    if name not in known:
        raise ValueError(f"unknown model {name!r}; known: {sorted(MODELS)} and the torchvision classifiers {known}")
    if in_channels != 3:
        raise ValueError(f"torchvision model {name!r} takes 3 input channels, got in_channels={in_channels}")
    return tv.get_model(name, weights=None, num_classes=num_classes)


__all__ = ["build", "MODELS", "SmallCNN", "ResNet", "resnet18", "resnet50"]
