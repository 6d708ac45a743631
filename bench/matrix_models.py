"""The architectures a matrix cell may train (its "model" key; "cnn" where it names none).

    cnn           ucfast.models' SmallCNN: three conv stages, global pooling, 128 features
    resnet18-w16  a CIFAR-style ResNet-18 at a quarter of its width: residual blocks, 128 features
                  after global pooling (the full width does not train in the CPU budget)
    cnn-mlp       the SmallCNN's convolutions with a hidden fully connected layer before the head:
                  256 ReLU features, many of them exactly zero
"""
from __future__ import annotations

from torch import nn

from ucfast import models

HIDDEN = 256  # cnn-mlp's hidden layer


def build(name: str, classes: int) -> nn.Module:
    """A freshly initialised classifier of 3-channel images into `classes` classes."""
    if name == "cnn":
        return models.build("cnn", classes)
    if name == "resnet18-w16":
        return models.resnet18(classes, width=16)
    if name == "cnn-mlp":
        model = models.SmallCNN(classes)
        model.fc = nn.Sequential(nn.Linear(model.fc.in_features, HIDDEN), nn.ReLU(inplace=True),
                                 nn.Linear(HIDDEN, classes))
        return model
    raise ValueError(f"unknown matrix model {name!r}; known: cnn, resnet18-w16, cnn-mlp")
