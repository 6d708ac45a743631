"""A poisoned data set on disk with its ground truth beside it: `write_poisoned` and the sidecar.

    ROOT/train/<class>/<i>.png           the training set, poisoned by a built-in attack (ucfast.attacks)
    ROOT/test/<class>/<i>.png            the clean held-out set (clean accuracy)
    ROOT/test-triggered/<class>/<i>.png  the held-out images of the other classes with the test-time
                                         trigger applied, true labels kept (attack success rate)
    ROOT/attack.json                     the sidecar: the attack (name, settings, target), the poisoned
                                         training files, the three folders above, and the label
                                         the attack wants for each triggered file (all-to-all and
                                         two targets want more than one)

Class folders are named by label index (000, 001, ...), so ImageFolder gives back the same labels.
PNG keeps the trigger's pixels exact. `ucfast clean ROOT/train` finds ROOT/attack.json by itself and
reports the attack success rate, the detection against the poison mask and the plots.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass

import numpy as np
from PIL import Image

from .. import attacks, data
from ..sanitize.job import atomic_write_bytes, dumps

FORMAT = "ucfast-attack/1"
SIDECAR = "attack.json"


def _write_folder(root: str, images, labels) -> list[str]:
    """images uint8 [N, 3, H, W], labels [N] -> root/<label:03d>/<i:06d>.png; the relative paths."""
    paths = []
    array = images.permute(0, 2, 3, 1).numpy()
    for i, label in enumerate(np.asarray(labels, dtype=np.int64)):
        rel = os.path.join(f"{label:03d}", f"{i:06d}.png")
        os.makedirs(os.path.join(root, f"{label:03d}"), exist_ok=True)
        Image.fromarray(array[i]).save(os.path.join(root, rel))
        paths.append(rel)
    return paths


def write_poisoned(root, *, dataset: str = "fashion-mnist", attack: str = "badnets", rate: float = 0.1,
                   target: int = 0, seed: int = 0, n_train: int | None = None, n_test: int | None = None,
                   attack_options: dict | None = None) -> str:
    """Write the layout of the module doc under `root` from the built-in `dataset` and `attack`;
    returns the sidecar's path."""
    root = os.path.abspath(os.fspath(root))
    if os.path.exists(os.path.join(root, SIDECAR)):
        raise FileExistsError(f"root: {root} already holds a poisoned data set ({SIDECAR}); use an empty folder")
    train_set = data.build(dataset, None, "train", n=n_train, seed=seed)
    test_set = data.build(dataset, None, "test", n=n_test, seed=seed)
    poisoned = attacks.build(attack, train_set, target=target, rate=rate, seed=seed,
                             **(attack_options or {})).materialise()
    triggered = poisoned.test_set(test_set)
    train_paths = _write_folder(os.path.join(root, "train"), poisoned.images, poisoned.labels)
    _write_folder(os.path.join(root, "test"), test_set.images, test_set.labels)
    triggered_paths = _write_folder(os.path.join(root, "test-triggered"), triggered.images, triggered.labels)
    doc = {"format": FORMAT, "attack": poisoned.summary(), "target": int(target), "dataset": dataset,
           "classes": [str(c) for c in poisoned.classes], "train": "train", "test": "test",
           "triggered": "test-triggered",
           "poisoned_files": sorted(train_paths[i] for i in poisoned.poison_indices),
           "intended": dict(zip(triggered_paths, triggered.intended.tolist()))}
    path = os.path.join(root, SIDECAR)
    atomic_write_bytes(path, dumps(doc).encode())
    return path


@dataclass(frozen=True)
class Sidecar:
    """What a poisoned data set's attack.json says, paths made absolute."""

    path: str
    attack: dict
    target: int
    train: str
    test: str | None
    triggered: str | None
    poisoned_files: tuple
    intended: dict | None = None  # triggered file -> the label the attack wants; None in older sidecars

    def mask(self, source) -> np.ndarray:
        """bool [N]: the poisoned positions of `source` (an ImageFolder source of `train`)."""
        if source.kind != "folder":
            raise ValueError(f"sidecar {self.path}: the poison mask names files of an image folder, but the data"
                             f" is read as {source.kind!r}")
        poisoned = set(self.poisoned_files)
        paths = source.dataset.paths
        mask = np.fromiter((paths.relative(i) in poisoned for i in range(len(paths))), dtype=bool, count=len(paths))
        if int(mask.sum()) != len(poisoned):
            raise ValueError(f"sidecar {self.path} lists {len(poisoned)} poisoned files, {int(mask.sum())} of them"
                             f" are in {source.path}")
        return mask

    def intended_of(self, source) -> np.ndarray | int:
        """int64 [M]: the label the attack wants for each position of `source` (the triggered folder,
        opened); the sidecar's target where it names no per-file labels."""
        if self.intended is None:
            return self.target
        paths = source.dataset.paths
        files = [paths.relative(i) for i in range(len(paths))]
        missing = [f for f in files if f not in self.intended]
        if missing:
            raise ValueError(f"sidecar {self.path} names no intended label for {len(missing)} triggered files, e.g."
                             f" {missing[0]!r}")
        return np.array([self.intended[f] for f in files], dtype=np.int64)


def read_sidecar(path: str) -> Sidecar:
    with open(path) as f:
        doc = json.load(f)
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise ValueError(f"sidecar: {path} is not an attack record (expected format {FORMAT!r}, got"
                         f" {doc.get('format') if isinstance(doc, dict) else type(doc).__name__!r})")
    base = os.path.dirname(os.path.abspath(path))

    def at(key):
        return None if doc.get(key) is None else os.path.join(base, doc[key])

    return Sidecar(os.path.abspath(path), doc["attack"], int(doc["target"]), at("train"), at("test"),
                   at("triggered"), tuple(doc["poisoned_files"]), doc.get("intended"))


def find_sidecar(data) -> str | None:
    """DATA's parent's attack.json when it names DATA as its training set."""
    if not isinstance(data, (str, os.PathLike)):
        return None
    path = os.path.abspath(os.fspath(data))
    candidate = os.path.join(os.path.dirname(path), SIDECAR)
    if not os.path.isfile(candidate):
        return None
    try:
        found = read_sidecar(candidate)
    except (ValueError, KeyError, json.JSONDecodeError):
        return None
    return candidate if os.path.normpath(found.train) == os.path.normpath(path) else None
