"""The one streaming scoring engine, driven by `ucfast.score` and by the sanitize job alike.

    batches of pixels (on the host, pinned, or already on the device)
      -> variants op: [V*B, 3, H, W] model input, written in the model's input dtype and memory format
      -> model: one forward for the original and every variant (autocast, compile, CUDA graphs)
      -> susceptibility op: score [B], distances [V-1, B], prediction [B]  (+ features of the originals)
      -> host, one batch later: the device is never waited for while it has work queued

The settings are checked once (`ScoreSettings`, `RunSettings`); the backends of the two ops are
resolved on the first batch and recorded (`Engine.record`), so a result always says what ran.
"""
from __future__ import annotations

import dataclasses
import math
import time
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass

import numpy as np
import torch

from . import ops
from .features import FeatureCapture
from .images import check_batch_memory, check_pixel_stats
from .ops import backends
from .ops.denoisers import check_denoisers
from .reference.susceptibility import check_space_distance

PRECISIONS = ("auto", "fp32", "bf16")
MAX_GRAPHS = 4  # CUDA graphs kept per engine (one per input shape)
MAX_STAT = 1.5  # |mean| or std above this is in 0..255 units, not 0..1


def channel_stats(value, name: str, default: float) -> tuple[float, float, float]:
    """mean or std as 3 floats (one number is repeated; None gives `default`)."""
    if value is None:
        return (default,) * 3
    values = tuple(float(v) for v in (value.tolist() if hasattr(value, "tolist") else value)) \
        if isinstance(value, (Sequence, np.ndarray, torch.Tensor)) else (float(value),)
    if len(values) == 1:
        values = values * 3
    if len(values) != 3:
        raise ValueError(f"{name} must be one number or 3 (one per channel), got {len(values)} values")
    if not all(math.isfinite(v) for v in values):
        raise ValueError(f"{name} must be finite, got {values}")
    if name == "std" and min(values) <= 0:
        raise ValueError(f"std must be positive, got {values}")
    if max(abs(v) for v in values) > MAX_STAT:
        scaled = tuple(round(v / 255.0, 4) for v in values)
        raise ValueError(f"{name} must be in 0..1 units (pixels are scaled to 0..1 before normalisation), got"
                         f" {values}: 0..255 units? divide by 255: {name}={scaled}")
    return values


@dataclass(frozen=True)
class ScoreSettings:
    """What a score is: the denoisers, the output space and distance, the amplification, the model's
    normalisation, and the backend asked for. `checked` validates every field."""

    denoisers: tuple[str, ...] = ("median", "nlm")
    space: str = "softmax"
    distance: str = "l1"
    amplify: float = 1.0
    mean: tuple[float, float, float] = (0.0, 0.0, 0.0)
    std: tuple[float, float, float] = (1.0, 1.0, 1.0)
    backend: str = "auto"

    @classmethod
    def checked(cls, *, denoisers=("median", "nlm"), space="softmax", distance="l1", amplify=1.0, mean=None,
                std=None, backend="auto") -> "ScoreSettings":
        denoisers = check_denoisers(denoisers)
        check_space_distance(space, distance)
        if isinstance(amplify, bool) or not isinstance(amplify, (int, float, np.floating)) \
                or not math.isfinite(amplify):
            raise ValueError(f"amplify must be a finite number (1.0 is the paper's denoised image), got {amplify!r}")
        backends.requested(backend)
        return cls(denoisers, space, distance, float(amplify), channel_stats(mean, "mean", 0.0),
                   channel_stats(std, "std", 1.0), backend)

    def record(self) -> dict:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}


@dataclass(frozen=True)
class RunSettings:
    """How the model runs: device, precision ("fp32": the model's own dtype, no autocast; "bf16": bf16
    autocast, the variants op writing bf16), memory format, torch.compile, CUDA graphs, which features
    to keep (False, True / "auto": the input of the last torch.nn.Linear, or a module name) and
    whether to synchronise the device to time denoising and model apart."""

    device: torch.device
    precision: str = "fp32"
    channels_last: bool = False
    compile: bool = False
    cuda_graphs: bool = False
    features: object = False
    profile: bool = False

    @classmethod
    def checked(cls, device, *, precision="fp32", channels_last=False, compile=False, cuda_graphs=False,
                features=False, profile=False) -> "RunSettings":
        """Resolve "auto" (precision: bf16 on CUDA, fp32 elsewhere; channels_last None: on for CUDA)."""
        check_run_options(precision=precision, channels_last=channels_last, compile=compile, cuda_graphs=cuda_graphs,
                          features=features, profile=profile)
        device = torch.device(device)
        if device.type == "meta":
            raise ValueError("device is 'meta' (the model's parameters hold no data: built under"
                             " torch.device('meta')?); load its weights first, e.g. model.to_empty(device='cpu')"
                             " then model.load_state_dict(...)")
        if device.type == "cuda" and not torch.cuda.is_available():
            raise ValueError(f"device {str(device)!r} was asked for, but CUDA is not available here; use device='cpu'")
        if precision == "auto":
            precision = "bf16" if device.type == "cuda" else "fp32"
        if channels_last is None:
            channels_last = device.type == "cuda"
        if cuda_graphs and device.type != "cuda":
            raise ValueError(f"cuda_graphs needs a CUDA device, got device {device}")
        if cuda_graphs and features not in (False, None):
            raise ValueError("features cannot be kept under cuda_graphs (a replayed graph runs no hooks);"
                             " pass features=False or cuda_graphs=False")
        return cls(device, precision, bool(channels_last), bool(compile), bool(cuda_graphs),
                   features if features is not None else False, bool(profile))


def replace_fields(cls, settings, options: dict, command: str):
    """`settings` (or `cls()`) with `options` replacing fields of the dataclass `cls`; unknown names are
    refused, naming them and the fields (`command`: whose options they are, for the message)."""
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(options) - names)
    if unknown:
        raise TypeError(f"unknown {command} option(s) {unknown}; the options are the fields of"
                        f" ucfast.{cls.__name__}: {sorted(names)}")
    return dataclasses.replace(settings if settings is not None else cls(), **options)


def check_flag(value, name: str) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {value!r}")
    return bool(value)


def check_run_options(*, precision, channels_last, compile, cuda_graphs, features, profile) -> None:
    """The one check of how a model may run (`RunSettings`, and a sanitize job before it opens its data)."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    if channels_last is not None:
        check_flag(channels_last, "channels_last")
    for name, value in (("compile", compile), ("cuda_graphs", cuda_graphs), ("profile", profile)):
        check_flag(value, name)
    if features is not None and not isinstance(features, (bool, str)):
        raise ValueError(f"features must be False, True, 'auto' or a module name, got {features!r}")


def model_dtype(model) -> torch.dtype:
    """The floating dtype of the model's parameters (float32 for a callable or a parameterless module)."""
    if isinstance(model, torch.nn.Module):
        for p in model.parameters():
            if p.dtype.is_floating_point:
                return p.dtype
    return torch.float32


def model_device(model) -> torch.device:
    if isinstance(model, torch.nn.Module):
        for p in model.parameters():
            return p.device
    return torch.device("cpu")


def check_model(model) -> None:
    """A module or callable whose parameters hold data (none on the meta device)."""
    if not isinstance(model, torch.nn.Module) and not callable(model):
        raise TypeError(f"model must be a torch.nn.Module or callable, got {type(model).__name__}")
    if isinstance(model, torch.nn.Module):
        meta = [name for name, p in model.named_parameters() if p.is_meta]
        if meta:
            raise ValueError(f"model: {len(meta)} parameters are on the meta device and hold no weights (first:"
                             f" {meta[0]!r}); load the weights first, e.g. model.to_empty(device='cpu') then"
                             " model.load_state_dict(...)")


def check_label_range(labels: np.ndarray, k: int, what: str, unlabelled_ok: bool = False) -> None:
    """Labels must be classes of a model with `k` logits: 0..k-1 (or -1, unlabelled, where allowed)."""
    labels = np.asarray(labels)
    bad = (labels >= k) | (labels < (-1 if unlabelled_ok else 0))
    if bad.any():
        values = np.unique(labels[bad])
        raise ValueError(f"{what}: labels {values[:8].tolist()} are not classes of the model, whose logits have"
                         f" K = {k} classes (labels 0..{k - 1}{', or -1 for unlabelled' if unlabelled_ok else ''});"
                         " is it the model of this dataset?")


def input_channels(model) -> int:
    """1 when the model's first convolution weight takes one channel (a grey model), else 3."""
    if isinstance(model, torch.nn.Module):
        for p in model.parameters():
            if p.dim() == 4:
                return 1 if p.shape[1] == 1 else 3
    return 3


class Forward:
    """The model call: autocast, channels_last, compile and CUDA graphs chosen once; times itself."""

    def __init__(self, model, run: RunSettings):
        self.device = run.device
        self.autocast = run.precision == "bf16"
        self.graphs_on = run.cuda_graphs
        if run.channels_last and isinstance(model, torch.nn.Module):
            model = model.to(memory_format=torch.channels_last)
        self.fn = torch.compile(model) if run.compile else model
        self.graphs = {}
        self.seconds = 0.0
        self.classes = None  # K, once the model has run
        self.sync = run.profile and self.device.type == "cuda"

    def _autocast(self, cache: bool = True):
        return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.autocast, cache_enabled=cache)

    def _graph(self, x: torch.Tensor):
        key = (tuple(x.shape), x.dtype, x.stride())
        entry = self.graphs.get(key)
        if entry is None:
            if len(self.graphs) >= MAX_GRAPHS:
                return None
            static_in = x.clone()
            side = torch.cuda.Stream()
            side.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(side), self._autocast(cache=False):
                for _ in range(3):
                    self.fn(static_in)
            torch.cuda.current_stream().wait_stream(side)
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph), self._autocast(cache=False):
                static_out = self.fn(static_in)
            entry = self.graphs[key] = (graph, static_in, static_out)
        graph, static_in, static_out = entry
        static_in.copy_(x)
        graph.replay()
        return static_out.clone()  # the next replay overwrites static_out while this batch lags

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        start = time.perf_counter()
        out = self._graph(x) if self.graphs_on else None
        if out is None:
            with self._autocast():
                out = self.fn(x)
        if self.sync:
            torch.cuda.synchronize(self.device)
        self.seconds += time.perf_counter() - start
        if isinstance(out, torch.Tensor) and out.dim() == 2:
            self.classes = int(out.shape[1])
        return out


def score_batch(model, images: torch.Tensor, denoisers: tuple[str, ...], mean3, std3, *, space: str = "softmax",
                distance: str = "l1", amplify: float = 1.0, dtype: torch.dtype = torch.float32,
                channels_last: bool = False, backend: str = "auto", chosen: dict | None = None,
                grey: bool = False):
    """One batch: checked [B, 3, H, W] pixels on the model's device -> variants op (model input in
    `dtype`, channels_last or not) -> one model forward -> susceptibility op. Returns (total [B] float32,
    distances [V-1, B] float32, prediction [B] int64) on the device.

    grey: the model takes one channel; it gets the mean of the three normalised channels (for a grey
    image and one mean/std number: the grey image normalised).

    chosen: a dict that receives, on the first call, the backend `backend` resolves to for each op
    ({"variants": ..., "susceptibility": ...}); later calls run those. None: each op resolves `backend`.
    """
    b = images.shape[0]
    num_variants = 1 + len(denoisers)
    args = (images, denoisers, float(amplify), tuple(mean3), tuple(std3), dtype, channels_last)
    if chosen is not None and "variants" not in chosen:
        chosen["variants"] = backends.resolve("variants", backend, images.device, *args)[0]
    inputs = ops.variants(images, ",".join(denoisers), float(amplify), list(mean3), list(std3), dtype, channels_last,
                          chosen["variants"] if chosen is not None else backend)
    if grey:
        inputs = inputs.mean(1, keepdim=True)
    logits = model(inputs)
    if not isinstance(logits, torch.Tensor) or logits.dim() != 2 or logits.shape[0] != num_variants * b:
        got = tuple(logits.shape) if isinstance(logits, torch.Tensor) else type(logits).__name__
        raise ValueError(
            f"model output must be logits of shape [B, K] = [{num_variants * b}, K] for a batch of"
            f" {b} images x {num_variants} variants, got {got}"
        )
    if space == "softmax" and logits.shape[1] < 2:
        raise ValueError(
            f"the model has {logits.shape[1]} output (logits of shape {tuple(logits.shape)}): its softmax is 1"
            " whatever the input, so every score would be 0; UltraClean needs K >= 2 class logits (for a"
            " one-logit binary model, score the logit itself with space='logits')")
    if chosen is not None and "susceptibility" not in chosen:
        chosen["susceptibility"] = backends.resolve("susceptibility", backend, logits.device, logits, num_variants,
                                                    space, distance)[0]
    return ops.susceptibility(logits, num_variants, space, distance,
                              chosen["susceptibility"] if chosen is not None else backend)


@dataclass
class BatchResult:
    """One batch's results on the host: `meta` is what the caller passed with the batch."""

    meta: object
    total: np.ndarray  # [B] float32
    dist: np.ndarray  # [V-1, B] float32
    pred: np.ndarray  # [B] int64
    features: np.ndarray | None  # [B, D] float32


class Engine:
    """Score batches with one model: `with Engine(model, scoring, run) as e: for r in e.results(batches)`.

    Inside the `with`, the model is in eval mode (restored after) and the feature hook is open.
    `results` takes (meta, images) pairs, images [B, 3, H, W] uint8 or float 0..1 (host or device;
    host tensors should be pinned for an overlapped copy) and yields `BatchResult`s in order, each
    one batch after it was submitted.
    """

    def __init__(self, model, scoring: ScoreSettings, run: RunSettings):
        check_model(model)
        self.model, self.scoring, self.run = model, scoring, run
        self.grey = input_channels(model) == 1
        self.shapes: set = set()  # batch shapes whose memory was checked
        self.notes: list[str] = []  # warnings about the data, also given to `warnings.warn`
        self.forward = Forward(model, run)
        self.input_dtype = torch.bfloat16 if run.precision == "bf16" else model_dtype(model)
        self.capture = FeatureCapture.resolve(model, run.features)
        self.backends: dict[str, str] = {}
        self.denoise_s = 0.0
        self._was_training = None

    @property
    def model_s(self) -> float:
        return self.forward.seconds

    @property
    def num_classes(self) -> int | None:
        """K of the model's logits, once a batch has run."""
        return self.forward.classes

    def __enter__(self) -> "Engine":
        if isinstance(self.model, torch.nn.Module):
            self._was_training = self.model.training
            _train_mode(self.model, False)
        if self.capture is not None:
            self.capture.open()
        return self

    def __exit__(self, *exc) -> None:
        if self.capture is not None:
            self.capture.close()
        if self._was_training is not None:
            _train_mode(self.model, self._was_training)

    def record(self) -> dict:
        """What ran: the scoring settings, the backends used per op, precision, format, compile, features."""
        out = self.scoring.record()
        out.update(backends=dict(self.backends), precision=self.run.precision, input_dtype=str(self.input_dtype),
                   channels_last=self.run.channels_last, compile=self.run.compile, cuda_graphs=self.run.cuda_graphs,
                   features=self.capture.where if self.capture is not None else None,
                   model_input="grey (mean of the 3 channels)" if self.grey else "rgb")
        return out

    def _first_look(self, images: torch.Tensor) -> None:
        """Checks of a batch shape not seen before: its memory, and (first batch) its pixel statistics."""
        key = tuple(images.shape)
        if key in self.shapes:
            return
        check_batch_memory(key, 1 + len(self.scoring.denoisers), torch.finfo(self.input_dtype).bits // 8,
                           self.run.device)
        if not self.shapes:
            note = check_pixel_stats(images, self.scoring.mean, self.scoring.std)
            if note is not None:
                self.notes.append(note)
                warnings.warn(note, stacklevel=3)
        self.shapes.add(key)

    def submit(self, images: torch.Tensor):
        """Queue one batch on the device; returns its device results (total, dist, pred, features or None)."""
        s = self.scoring
        self._first_look(images)
        images = images.to(self.run.device, non_blocking=True)
        if self.capture is not None:
            self.capture.rows = images.shape[0]
        start, model_before = time.perf_counter(), self.forward.seconds
        total, dist, pred = score_batch(self.forward, images, s.denoisers, s.mean, s.std, space=s.space,
                                        distance=s.distance, amplify=s.amplify, dtype=self.input_dtype,
                                        channels_last=self.run.channels_last, backend=s.backend, chosen=self.backends,
                                        grey=self.grey)
        if self.forward.sync:
            torch.cuda.synchronize(self.run.device)
        self.denoise_s += time.perf_counter() - start - (self.forward.seconds - model_before)
        feats = self.capture.take() if self.capture is not None else None
        return total, dist, pred, feats

    @staticmethod
    def _host(meta, queued, where) -> BatchResult:
        total, dist, pred, feats = queued
        total = total.float().cpu().numpy()
        bad = np.flatnonzero(~np.isfinite(total))
        if bad.size:
            raise ValueError(
                f"{where(meta, bad)}: the model gave NaN or Inf logits ({bad.size} of {total.size} images score"
                " NaN); check its weights, its precision (bf16/fp16 overflow?) and mean/std")
        return BatchResult(meta, total, dist.float().cpu().numpy(), pred.cpu().numpy(),
                           feats.float().cpu().numpy() if feats is not None else None)

    def results(self, batches: Iterable[tuple[object, torch.Tensor]],
                where: Callable[[object, np.ndarray], str] | None = None) -> Iterator[BatchResult]:
        """Score every (meta, images) pair; yields each result after the next batch was queued.
        where(meta, rows) names rows of a batch in an error (default: "batch <meta>, rows <rows>")."""
        where = where or (lambda meta, rows: f"batch {meta}, rows {rows[:8].tolist()}")
        lagging = None
        with torch.inference_mode():
            for meta, images in batches:
                queued = self.submit(images) if images.shape[0] else None
                if lagging is not None:
                    yield self._host(*lagging, where)
                    lagging = None
                if queued is None:
                    yield BatchResult(meta, np.zeros(0, np.float32), np.zeros((len(self.scoring.denoisers), 0),
                                                                                np.float32),
                                      np.zeros(0, np.int64), None)
                else:
                    lagging = (meta, queued)
            if lagging is not None:
                yield self._host(*lagging, where)


def _train_mode(module: torch.nn.Module, training: bool) -> None:
    try:
        module.train(training)
    except NotImplementedError:  # torch.export modules have no train/eval switch
        pass
