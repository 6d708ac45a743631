"""Datasets stored as .npz files: arrays `images` and `labels` (or `<split>_images`, `<split>_labels`)."""
from __future__ import annotations

import os

import numpy as np

from .arrays import ArrayDataset


def load_npz(path, split: str | None = None) -> ArrayDataset:
    """images (uint8 or float 0..1; N x H x W x 3, N x 3 x H x W or N x H x W) and labels from an .npz.

    A file holding several splits stores `<split>_images` / `<split>_labels` (e.g. train_images);
    a file holding one stores `images` / `labels` and is read for split None or "train".
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"npz dataset {path!r} does not exist")
    with np.load(path, allow_pickle=False) as z:
        keys = set(z.files)
        prefixed = f"{split}_images" in keys and f"{split}_labels" in keys
        if prefixed:
            images, labels = z[f"{split}_images"], z[f"{split}_labels"]
        elif {"images", "labels"} <= keys and split in (None, "train"):
            images, labels = z["images"], z["labels"]
        else:
            wanted = "'images' and 'labels'" if split in (None, "train") else f"'{split}_images' and '{split}_labels'"
            raise ValueError(f"{path}: expected arrays {wanted}, the file holds {sorted(keys)}")
        classes = [str(c) for c in z["classes"]] if "classes" in keys else None
    if len(images) == 0:
        raise ValueError(f"{path}: holds no images")
    return ArrayDataset(images, labels, classes=classes, name=os.path.basename(path))


def save_npz(dataset, path) -> None:
    """Write an `ArrayDataset` (or anything with `images` [N, 3, H, W] and `labels`) as images
    (uint8 N x 3 x H x W), labels (int64) and classes."""
    arrays = {"images": dataset.images.numpy(), "labels": np.asarray(dataset.labels, dtype=np.int64)}
    if getattr(dataset, "classes", None) is not None:
        arrays["classes"] = np.asarray([str(c) for c in dataset.classes])
    with open(path, "wb") as f:
        np.savez(f, **arrays)
