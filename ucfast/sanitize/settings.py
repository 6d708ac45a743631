"""`SanitizeSettings`: the whole configuration of a sanitize job, one object.

It is checked before any data is opened (`checked`), hashed for the resume fingerprint (the fields
that decide what the outputs hold), and written to report.json as it ran.
"""
from __future__ import annotations

import dataclasses
import glob
import hashlib
import json
import os
from dataclasses import dataclass

import numpy as np

from ..data.folder import check_size
from ..engine import ScoreSettings, check_flag, check_run_options, replace_fields
from ..selection import Rule
from ..selection import check as check_selection

ON_ERROR = ("raise", "skip")
# Fields that do not change what the outputs hold: a resumed run may differ in them.
RUN_ONLY = ("workers", "progress", "profile", "device", "cuda_graphs", "force")
# The default chunk: about CHUNKS_PER_JOB chunks, at most MAX_CHUNK_BATCHES batches each.
CHUNKS_PER_JOB = 32
MAX_CHUNK_BATCHES = 16


def default_chunk_size(n: int, batch_size: int) -> int:
    """Positions per chunk when none is given: whole batches, about CHUNKS_PER_JOB chunks, at most
    MAX_CHUNK_BATCHES batches (so a kill loses at most 16 batches of work); a function of the dataset
    size and batch size only, so every run of a job cuts the same chunks."""
    batches = -(-n // (CHUNKS_PER_JOB * batch_size))
    return batch_size * min(MAX_CHUNK_BATCHES, max(1, batches))


def _positive_int(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def check_reference(reference, *, ratio, threshold, method, features="auto") -> None:
    """Refuse a trusted clean set (`reference`, a path or None) the selection would not use (with the
    paper's cut: a ratio, a threshold or method ultraclean; or with no features to compare it in), and
    one that does not exist."""
    if reference is None:
        return
    if not isinstance(reference, (str, os.PathLike)):
        raise ValueError(f"reference must be the path of a trusted clean data set, got {reference!r}")
    if ratio is not None or threshold is not None or method == "ultraclean":
        raise ValueError("reference is used by the detector (method auto, the automatic cut), not by the paper's"
                         " cut: drop the reference or the ratio/threshold/method")
    if features is False:
        raise ValueError("reference is compared with the data in penultimate features, and they are off (features"
                         " off, or cuda_graphs, which turns features='auto' off); keep features to use a reference")
    path = os.fspath(reference)
    if not ("{" in path or glob.has_magic(path) or os.path.exists(path)):
        raise FileNotFoundError(f"reference: {path!r} does not exist")


@dataclass(frozen=True)
class SanitizeSettings:
    """Everything a sanitize job is told, grouped as the job uses it.

    The model (when no module is passed): `arch` + `checkpoint` (a state dict, loaded with
    weights_only=True; or a TorchScript / torch.export file without arch), `num_classes`.
    The data: `format` ("folder", "shards", "npz"; None: detected), `resize` (shorter side) then a
    centre `crop`, `on_error` ("raise": stop at the first unreadable image, naming it; "skip": list it),
    `verify` (the resume fingerprint also hashes every file's content, not only names, sizes and
    modification times; give it on every run of a job or on none).
    The score: `mean`/`std` (the model's normalisation, 0..1 units), `denoisers`, `space`, `distance`,
    `amplify`, `backend` (as `ucfast.score`), `features` ("auto": the penultimate features when the
    model has a torch.nn.Linear head; kept memory-mapped for the default detector).
    The selection: `ratio`, `threshold`, `per_class`, `classes`, `method` (as `ucfast.select`; none
    of them: its default, method="auto", the automatic cut); `reference` (a small trusted clean data
    set in any of the formats, labelled with the data's classes: scored by the same model and given
    to the detector as `ucfast.select`'s reference=; method auto only, with features).
    How it runs: `batch_size`, `chunk_size` (positions per committed chunk; default
    `default_chunk_size`: about 32 chunks, at most 16 batches each),
    `workers` (DataLoader workers; None: the cores of this rank, at most 8), `device` (None: the
    rank's GPU, else the CPU), `precision` ("auto": bf16 on CUDA, fp32 on the CPU), `channels_last`
    (None: on CUDA), `compile`, `cuda_graphs`, `gpu_decode` (nvJPEG through torchvision), `progress`,
    `profile` (synchronise to time denoising and model apart), `force` (write into an `out` that holds
    files no job wrote).
    """

    arch: str | None = None
    checkpoint: str | None = None
    num_classes: int | None = None
    format: str | None = None
    resize: int | None = None
    crop: int | None = None
    on_error: str = "raise"
    verify: bool = False
    mean: tuple | float | None = None
    std: tuple | float | None = None
    denoisers: tuple = ("median", "nlm")
    space: str = "softmax"
    distance: str = "l1"
    amplify: float = 1.0
    backend: str = "auto"
    features: bool | str = "auto"
    ratio: float | None = None
    threshold: float | None = None
    per_class: bool = False
    classes: tuple | None = None
    method: str | None = None
    reference: str | None = None
    batch_size: int = 64
    chunk_size: int | None = None
    workers: int | None = None
    device: str | None = None
    precision: str = "auto"
    channels_last: bool | None = None
    compile: bool = False
    cuda_graphs: bool = False
    gpu_decode: bool = False
    progress: bool = True
    profile: bool = False
    force: bool = False

    @classmethod
    def from_options(cls, settings: "SanitizeSettings | None", options: dict) -> "SanitizeSettings":
        """`settings` (or the defaults) with `options` replacing fields; unknown names are refused."""
        return replace_fields(cls, settings, options, "sanitize")

    def checked(self) -> "SanitizeSettings":
        """Validate every field (errors name the field); returns a copy in canonical form."""
        scoring = self.scoring()
        check_selection(ratio=self.ratio, threshold=self.threshold, classes=self.classes, per_class=self.per_class,
                        method=self.method)
        check_reference(self.reference, ratio=self.ratio, threshold=self.threshold, method=self.method,
                        features=False if self.cuda_graphs and self.features == "auto" else self.features)
        if self.format is not None and self.format not in ("folder", "shards", "npz"):
            raise ValueError(f"format must be 'folder', 'shards', 'npz' or None (detect), got {self.format!r}")
        if self.on_error not in ON_ERROR:
            raise ValueError(f"on_error must be 'raise' or 'skip', got {self.on_error!r}")
        if self.num_classes is not None:
            _positive_int(self.num_classes, "num_classes")
        if self.workers is not None and (isinstance(self.workers, bool) or not isinstance(self.workers, int)
                                         or self.workers < 0):
            raise ValueError(f"workers must be a non-negative integer, got {self.workers!r}")
        check_run_options(precision=self.precision, channels_last=self.channels_last, compile=self.compile,
                          cuda_graphs=self.cuda_graphs, features=self.features, profile=self.profile)
        for name in ("gpu_decode", "progress", "verify", "force"):
            check_flag(getattr(self, name), name)
        batch_size = _positive_int(self.batch_size, "batch_size")
        return dataclasses.replace(
            self, denoisers=scoring.denoisers, mean=scoring.mean, std=scoring.std, amplify=scoring.amplify,
            resize=check_size(self.resize, "resize"), crop=check_size(self.crop, "crop"), batch_size=batch_size,
            chunk_size=_positive_int(self.chunk_size, "chunk_size") if self.chunk_size is not None else None,
            classes=tuple(self.classes) if isinstance(self.classes, (list, tuple)) else self.classes,
            checkpoint=os.fspath(self.checkpoint) if self.checkpoint is not None else None,
            reference=os.fspath(self.reference) if self.reference is not None else None)

    def scoring(self) -> ScoreSettings:
        return ScoreSettings.checked(denoisers=self.denoisers, space=self.space, distance=self.distance,
                                     amplify=self.amplify, mean=self.mean, std=self.std, backend=self.backend)

    def rule(self) -> Rule:
        return check_selection(ratio=self.ratio, threshold=self.threshold, classes=self.classes,
                               per_class=self.per_class, method=self.method)

    def record(self, deterministic: bool = False) -> dict:
        """The fields, JSON-ready: all of them (run.json), or without those that may differ between runs
        giving the same outputs (`deterministic`: report.json)."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()
                if not (deterministic and k in RUN_ONLY)}

    def fingerprint(self, **resolved) -> dict:
        """The fields that decide the chunk files' contents (not the selection, which is redone on every
        run, nor how fast it runs), with `resolved` replacing automatic choices (precision, channels_last,
        the device's kind, features), and their sha256: what a resumed run must match."""
        fixed = {k: v for k, v in self.record().items() if k not in RUN_ONLY and k not in (
            "ratio", "threshold", "per_class", "classes", "method", "reference", "arch", "checkpoint", "num_classes",
            "format", "verify")}
        fixed.update(resolved)
        digest = hashlib.sha256(json.dumps(fixed, sort_keys=True).encode()).hexdigest()
        return dict(fixed, sha256=digest)
