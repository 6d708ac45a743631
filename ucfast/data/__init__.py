"""Datasets for ucfast's demo, tests and benchmarks, and the wrappers the pipeline needs.

`build(name, root=None, split="train", **options)` returns a dataset whose items are
(uint8 [3, H, W] image, int label), un-normalised, as `ucfast.score` expects:

    synthetic       generated RGB 32 x 32, 10 classes; no files (options: n, seed, size)
    fashion-mnist   IDX files (default root /usr/share/datasets/fashion-mnist; options: size=32, tint)
    cifar10         python-pickle batches under root (options: download=False)
    cifar100        same layout, fine labels
    npz             root is an .npz file with images + labels
    folder          root/<class>/<image> read by `ImageFolder` (root/<split> when that exists;
                    options: size, on_error); items are (image, label, index)

All but "folder" load into memory as `ArrayDataset`. Every build accepts `n` (keep a seeded
random subset of n samples, with `seed`).
"""
from __future__ import annotations

import os

import numpy as np

from .arrays import ArrayDataset, WithIndex, batches, in_memory, labels_of, num_classes_of, stats
from .cifar import cifar
from .fashion import fashion_mnist, read_idx, resize
from .folder import ImageFolder
from .npz import load_npz, save_npz
from .synthetic import synthetic

NAMES = ("synthetic", "fashion-mnist", "cifar10", "cifar100", "npz", "folder")
_ALIASES = {"fashion_mnist": "fashion-mnist", "fashionmnist": "fashion-mnist", "cifar-10": "cifar10",
            "cifar-100": "cifar100"}


def _subsample(dataset, n, seed: int):
    if n is None or n >= len(dataset):
        return dataset
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n must be None or a positive integer, got {n!r}")
    keep = np.sort(np.random.default_rng(seed).choice(len(dataset), int(n), replace=False))
    return dataset.subset(keep)


def _folder(root, split, size=None, on_error="raise"):
    if root is None:
        raise ValueError("dataset 'folder' needs root (a folder of class sub-folders)")
    root = os.fspath(root)
    if not os.path.exists(root):
        raise FileNotFoundError(f"image folder {root!r} does not exist")
    if split and os.path.isdir(os.path.join(root, split)):
        root = os.path.join(root, split)
    return ImageFolder(root, resize=size, crop=size, on_error=on_error)


def build(name: str, root=None, split: str = "train", *, n: int | None = None, seed: int = 0, **options):
    """A dataset by name (see the module doc for the names and their options)."""
    if not isinstance(name, str):
        raise TypeError(f"dataset name must be a string, got {type(name).__name__}")
    key = _ALIASES.get(name.lower(), name.lower())
    if key == "synthetic":
        if root is not None:
            raise ValueError("the synthetic dataset is generated and takes no root")
        return synthetic(split, n, seed=seed, **options)
    if key == "fashion-mnist":
        dataset = fashion_mnist(root, split, seed=seed, **options)
    elif key in ("cifar10", "cifar100"):
        download = options.pop("download", False)
        dataset = cifar(key, root, split, download_missing=download, **options)
    elif key == "npz":
        if root is None:
            raise ValueError("dataset 'npz' needs root (the .npz file)")
        dataset = load_npz(root, split, **options)
    elif key == "folder":
        if n is not None:
            raise ValueError("n (subsampling) is not supported for image folders")
        return _folder(root, split, **options)
    else:
        raise ValueError(f"unknown dataset {name!r}; known: {list(NAMES)}")
    return _subsample(dataset, n, seed)


__all__ = ["build", "NAMES", "ArrayDataset", "WithIndex", "ImageFolder", "batches", "in_memory", "labels_of",
           "num_classes_of", "stats", "synthetic", "fashion_mnist", "cifar", "load_npz", "save_npz", "read_idx",
           "resize"]
