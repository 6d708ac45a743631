"""CIFAR-10 and CIFAR-100 in the standard python-pickle layout, downloaded only when asked.

root holds cifar-10-batches-py/ (data_batch_1..5, test_batch, batches.meta) or cifar-100-python/
(train, test, meta), or is that folder itself. The batches are Python pickles, as distributed;
read only files you trust.
"""
from __future__ import annotations

import hashlib
import os
import pickle
import tarfile
import urllib.request

import numpy as np
import torch

from .arrays import ArrayDataset

DEFAULT_ROOT = os.path.join(os.path.expanduser("~"), ".cache", "ucfast", "data")
LAYOUT = {
    "cifar10": {"folder": "cifar-10-batches-py", "train": [f"data_batch_{i}" for i in range(1, 6)],
                "test": ["test_batch"], "meta": "batches.meta", "labels": "labels", "names": "label_names",
                "url": "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
                "md5": "c58f30108f718f92721af3b95e74349a"},
    "cifar100": {"folder": "cifar-100-python", "train": ["train"], "test": ["test"], "meta": "meta",
                 "labels": "fine_labels", "names": "fine_label_names",
                 "url": "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz",
                 "md5": "eb9058c3a382ffc7106e4002c42a8d85"},
}


def _unpickle(path: str) -> dict:
    with open(path, "rb") as f:
        entry = pickle.load(f, encoding="latin1")
    if not isinstance(entry, dict):
        raise ValueError(f"{path} is not a CIFAR batch (expected a pickled dict, got {type(entry).__name__})")
    return {k.decode() if isinstance(k, bytes) else k: v for k, v in entry.items()}


def download(name: str, root=None) -> str:
    """Fetch and unpack the CIFAR archive into root (checked against its MD5); returns the folder."""
    spec = LAYOUT[name]
    root = os.fspath(DEFAULT_ROOT if root is None else root)
    os.makedirs(root, exist_ok=True)
    archive = os.path.join(root, os.path.basename(spec["url"]))
    if not os.path.isfile(archive):
        partial = archive + ".part"
        urllib.request.urlretrieve(spec["url"], partial)
        os.replace(partial, archive)
    digest = hashlib.md5()
    with open(archive, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    if digest.hexdigest() != spec["md5"]:
        raise ValueError(f"{archive} has MD5 {digest.hexdigest()}, expected {spec['md5']}; delete it and retry")
    with tarfile.open(archive, "r:gz") as tar:
        if hasattr(tarfile, "data_filter"):
            tar.extractall(root, filter="data")
        else:
            tar.extractall(root)
    return os.path.join(root, spec["folder"])


def cifar(name: str = "cifar10", root=None, split: str = "train", *, download_missing: bool = False) -> ArrayDataset:
    """CIFAR-10 ("cifar10") or CIFAR-100 ("cifar100", fine labels) `split` as uint8 [N, 3, 32, 32]."""
    if name not in LAYOUT:
        raise ValueError(f"name must be one of {sorted(LAYOUT)}, got {name!r}")
    spec = LAYOUT[name]
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test' for {name}, got {split!r}")
    root = os.fspath(DEFAULT_ROOT if root is None else root)
    folder = root if os.path.basename(os.path.normpath(root)) == spec["folder"] else os.path.join(root, spec["folder"])
    if not os.path.isdir(folder):
        if not download_missing:
            raise FileNotFoundError(f"{name}: folder {folder!r} not found; point root at the folder holding"
                                    f" {spec['folder']}/ or pass download=True")
        folder = download(name, root)
    images, labels = [], []
    for part in spec[split]:
        path = os.path.join(folder, part)
        if not os.path.isfile(path):
            raise FileNotFoundError(f"{name}: batch file {path!r} is missing")
        entry = _unpickle(path)
        if "data" not in entry or spec["labels"] not in entry:
            raise ValueError(f"{path}: expected keys 'data' and {spec['labels']!r}, got {sorted(entry)}")
        data = np.asarray(entry["data"], dtype=np.uint8)
        if data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
            raise ValueError(f"{path}: 'data' must be N x 3072 uint8, got shape {data.shape}")
        images.append(data.reshape(-1, 3, 32, 32))
        labels.append(np.asarray(entry[spec["labels"]], dtype=np.int64))
    classes = None
    meta = os.path.join(folder, spec["meta"])
    if os.path.isfile(meta):
        classes = _unpickle(meta).get(spec["names"])
    return ArrayDataset(torch.from_numpy(np.concatenate(images)), torch.from_numpy(np.concatenate(labels)),
                        classes=classes, name=f"{name}-{split}")
