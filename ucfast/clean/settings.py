"""`CleanSettings`: the whole configuration of a `ucfast clean` run, one object.

It is checked before any data is opened (`checked`), its fields that decide the outputs are hashed
into the run's spec (a rerun with other settings is refused instead of mixing stages), and it is
written to report.json as it ran.
"""
from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass

import numpy as np

from ..data.folder import check_size
from ..engine import PRECISIONS, check_flag, replace_fields
from ..sanitize.settings import check_reference
from ..selection import check as check_selection

OPTIMIZERS = ("sgd", "adamw")
AUGMENTS = ("auto", "crop-flip", "resized-crop-flip", "none")
# Fields that do not change what the outputs hold: a resumed run may differ in them.
RUN_ONLY = ("workers", "progress", "device", "checkpoint_minutes", "score_batch_size", "chunk_size")


def _positive_int(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def _count(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
    return int(value)


def _number(value, name: str, low: float, high: float | None = None, *, open_low: bool = False) -> float:
    ok = not isinstance(value, bool) and isinstance(value, (int, float, np.floating, np.integer))
    ok = ok and (value > low if open_low else value >= low) and (high is None or value <= high)
    if not ok:
        bounds = f"{'>' if open_low else '>='} {low}" + ("" if high is None else f" and <= {high}")
        raise ValueError(f"{name} must be a number {bounds}, got {value!r}")
    return float(value)


def _optional_path(value, name: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, (str, os.PathLike)):
        raise TypeError(f"{name} must be a path or None, got {type(value).__name__}")
    return os.path.abspath(os.fspath(value))


@dataclass(frozen=True)
class CleanSettings:
    """Everything `ucfast.clean` is told.

    The model: `arch` (cnn, resnet18, resnet50 or a torchvision classifier), `num_classes` (None: from
    the labels). The data: `format` (None: detected), `resize` then centre `crop` (what scoring and
    evaluation see; training takes a random crop of `crop` pixels), `on_error`, `test` (a held-out set
    for the clean accuracy; None: the sidecar's), `sidecar` (the attack record of a poisoned set written
    by `ucfast.clean.write_poisoned`; None: DATA's parent's attack.json when it names DATA).
    Training: `epochs`, `retrain` (train a fresh model on what was kept), `retrain_epochs` (None: epochs),
    `batch_size` (global: split across the ranks), `micro_batch` (samples per forward: batch norm normalises
    over groups of this size and the gradient accumulates over a rank's groups; None: the per-rank batch;
    the same micro_batch gives the same training for every world size), `precise_bn` (batch norm's running
    statistics recomputed after training over this many training samples in micro-batches, by
    torch.optim.swa_utils.update_bn; 0: keep the running averages), `optimizer` (sgd | adamw), `lr` (None:
    0.1 x B/256 for SGD, 1e-3 x B/512 for AdamW), `momentum`, `weight_decay` (None: 5e-4 SGD, 0.05 AdamW), `warmup`
    (share of the steps with a linear warm-up), `label_smoothing`, `augment` (auto: random-resized-crop and
    flip when `crop` > 64, else crop and flip), `seed`, `checkpoint_minutes` (a resumable checkpoint this
    often and at every epoch end; 0: after every step). `mean`/`std` (None: estimated from the training
    data). Scoring and selection (as `ucfast.sanitize`; none of ratio/threshold/method: its default,
    method auto): `denoisers`, `ratio`, `threshold`, `method`, `reference` (a trusted clean data set for
    the detector), `score_batch_size`, `chunk_size`.
    How it runs: `workers`, `device`, `precision` (auto: bf16 autocast on CUDA), `channels_last` (None: on
    CUDA), `compile`, `deterministic` (None: on the CPU; on CUDA it also needs CUBLAS_WORKSPACE_CONFIG),
    `progress`.
    """

    arch: str = "resnet18"
    num_classes: int | None = None
    format: str | None = None
    resize: int | None = None
    crop: int | None = None
    on_error: str = "raise"
    test: str | None = None
    sidecar: str | None = None
    epochs: int = 10
    retrain: bool = False
    retrain_epochs: int | None = None
    batch_size: int = 128
    micro_batch: int | None = None
    precise_bn: int = 4096
    optimizer: str = "sgd"
    lr: float | None = None
    momentum: float = 0.9
    weight_decay: float | None = None
    warmup: float = 0.05
    label_smoothing: float = 0.0
    augment: str = "auto"
    seed: int = 0
    checkpoint_minutes: float = 10.0
    mean: tuple | None = None
    std: tuple | None = None
    denoisers: tuple = ("median", "nlm")
    ratio: float | None = None
    threshold: float | None = None
    method: str | None = None
    reference: str | None = None
    score_batch_size: int = 64
    chunk_size: int | None = None
    workers: int | None = None
    device: str | None = None
    precision: str = "auto"
    channels_last: bool | None = None
    compile: bool = False
    deterministic: bool | None = None
    progress: bool = True

    @classmethod
    def from_options(cls, settings: "CleanSettings | None", options: dict) -> "CleanSettings":
        """`settings` (or the defaults) with `options` replacing fields; unknown names are refused."""
        return replace_fields(cls, settings, options, "clean")

    def checked(self) -> "CleanSettings":
        """Validate every field (errors name the field); returns a copy in canonical form."""
        if not isinstance(self.arch, str) or not self.arch:
            raise ValueError(f"arch must be a model name (cnn, resnet18, resnet50, ...), got {self.arch!r}")
        if self.format is not None and self.format not in ("folder", "shards", "npz"):
            raise ValueError(f"format must be 'folder', 'shards', 'npz' or None (detect), got {self.format!r}")
        if self.on_error not in ("raise", "skip"):
            raise ValueError(f"on_error must be 'raise' or 'skip', got {self.on_error!r}")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got {self.optimizer!r}")
        if self.augment not in AUGMENTS:
            raise ValueError(f"augment must be one of {AUGMENTS}, got {self.augment!r}")
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {self.precision!r}")
        for name in ("retrain", "compile", "progress"):
            check_flag(getattr(self, name), name)
        for name in ("channels_last", "deterministic"):
            if getattr(self, name) is not None:
                check_flag(getattr(self, name), name)
        if isinstance(self.seed, bool) or not isinstance(self.seed, (int, np.integer)) or self.seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {self.seed!r}")
        if self.workers is not None and (isinstance(self.workers, bool) or not isinstance(self.workers, int)
                                         or self.workers < 0):
            raise ValueError(f"workers must be a non-negative integer, got {self.workers!r}")
        check_selection(ratio=self.ratio, threshold=self.threshold, method=self.method)
        check_reference(self.reference, ratio=self.ratio, threshold=self.threshold, method=self.method)
        mean, std = (None if v is None else tuple(float(x) for x in np.broadcast_to(np.asarray(v, float), 3))
                     for v in (self.mean, self.std))
        if std is not None and min(std) <= 0:
            raise ValueError(f"std must be positive, got {self.std!r}")
        return dataclasses.replace(
            self, num_classes=None if self.num_classes is None else _positive_int(self.num_classes, "num_classes"),
            resize=check_size(self.resize, "resize"), crop=check_size(self.crop, "crop"),
            test=_optional_path(self.test, "test"), sidecar=_optional_path(self.sidecar, "sidecar"),
            reference=_optional_path(self.reference, "reference"),
            epochs=_positive_int(self.epochs, "epochs"),
            retrain_epochs=(None if self.retrain_epochs is None
                            else _positive_int(self.retrain_epochs, "retrain_epochs")),
            batch_size=_positive_int(self.batch_size, "batch_size"),
            micro_batch=None if self.micro_batch is None else _positive_int(self.micro_batch, "micro_batch"),
            precise_bn=_count(self.precise_bn, "precise_bn"),
            lr=None if self.lr is None else _number(self.lr, "lr", 0.0, open_low=True),
            momentum=_number(self.momentum, "momentum", 0.0, 1.0),
            weight_decay=None if self.weight_decay is None else _number(self.weight_decay, "weight_decay", 0.0),
            warmup=_number(self.warmup, "warmup", 0.0, 1.0),
            label_smoothing=_number(self.label_smoothing, "label_smoothing", 0.0, 1.0),
            checkpoint_minutes=_number(self.checkpoint_minutes, "checkpoint_minutes", 0.0),
            mean=mean, std=std, denoisers=tuple(self.denoisers),
            score_batch_size=_positive_int(self.score_batch_size, "score_batch_size"),
            chunk_size=None if self.chunk_size is None else _positive_int(self.chunk_size, "chunk_size"),
            seed=int(self.seed))

    def resolved_lr(self) -> float:
        if self.lr is not None:
            return self.lr
        return 0.1 * self.batch_size / 256 if self.optimizer == "sgd" else 1e-3 * self.batch_size / 512

    def resolved_weight_decay(self) -> float:
        if self.weight_decay is not None:
            return self.weight_decay
        return 5e-4 if self.optimizer == "sgd" else 0.05

    def resolved_augment(self) -> str:
        if self.augment != "auto":
            return self.augment
        return "resized-crop-flip" if self.crop is not None and self.crop > 64 else "crop-flip"

    def record(self, deterministic: bool = False) -> dict:
        """The fields, JSON-ready: all of them, or without those that may differ between runs giving the
        same outputs (`deterministic`)."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()
                if not (deterministic and k in RUN_ONLY)}
