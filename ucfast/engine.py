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

import math
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass

import numpy as np
import torch

from . import ops
from .features import FeatureCapture
from .ops import backends
from .ops.denoisers import check_denoisers
from .reference.susceptibility import check_space_distance

PRECISIONS = ("auto", "fp32", "bf16")
MAX_GRAPHS = 4  # CUDA graphs kept per engine (one per input shape)


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
        return out


def score_batch(model, images: torch.Tensor, denoisers: tuple[str, ...], mean3, std3, *, space: str = "softmax",
                distance: str = "l1", amplify: float = 1.0, dtype: torch.dtype = torch.float32,
                channels_last: bool = False, backend: str = "auto", chosen: dict | None = None):
    """One batch: checked [B, 3, H, W] pixels on the model's device -> variants op (model input in
    `dtype`, channels_last or not) -> one model forward -> susceptibility op. Returns (total [B] float32,
    distances [V-1, B] float32, prediction [B] int64) on the device.

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
    logits = model(inputs)
    if not isinstance(logits, torch.Tensor) or logits.dim() != 2 or logits.shape[0] != num_variants * b:
        got = tuple(logits.shape) if isinstance(logits, torch.Tensor) else type(logits).__name__
        raise ValueError(
            f"model output must be logits of shape [B, K] = [{num_variants * b}, K] for a batch of"
            f" {b} images x {num_variants} variants, got {got}"
        )
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
        if not isinstance(model, torch.nn.Module) and not callable(model):
            raise TypeError(f"model must be a torch.nn.Module or callable, got {type(model).__name__}")
        self.model, self.scoring, self.run = model, scoring, run
        self.forward = Forward(model, run)
        self.input_dtype = torch.bfloat16 if run.precision == "bf16" else model_dtype(model)
        self.capture = FeatureCapture.resolve(model, run.features)
        self.backends: dict[str, str] = {}
        self.denoise_s = 0.0
        self._was_training = None

    @property
    def model_s(self) -> float:
        return self.forward.seconds

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
                   features=self.capture.where if self.capture is not None else None)
        return out

    def submit(self, images: torch.Tensor):
        """Queue one batch on the device; returns its device results (total, dist, pred, features or None)."""
        s = self.scoring
        images = images.to(self.run.device, non_blocking=True)
        if self.capture is not None:
            self.capture.rows = images.shape[0]
        start, model_before = time.perf_counter(), self.forward.seconds
        total, dist, pred = score_batch(self.forward, images, s.denoisers, s.mean, s.std, space=s.space,
                                        distance=s.distance, amplify=s.amplify, dtype=self.input_dtype,
                                        channels_last=self.run.channels_last, backend=s.backend, chosen=self.backends)
        if self.forward.sync:
            torch.cuda.synchronize(self.run.device)
        self.denoise_s += time.perf_counter() - start - (self.forward.seconds - model_before)
        feats = self.capture.take() if self.capture is not None else None
        return total, dist, pred, feats

    @staticmethod
    def _host(meta, queued) -> BatchResult:
        total, dist, pred, feats = queued
        return BatchResult(meta, total.float().cpu().numpy(), dist.float().cpu().numpy(), pred.cpu().numpy(),
                           feats.float().cpu().numpy() if feats is not None else None)

    def results(self, batches: Iterable[tuple[object, torch.Tensor]]) -> Iterator[BatchResult]:
        """Score every (meta, images) pair; yields each result after the next batch was queued."""
        lagging = None
        with torch.inference_mode():
            for meta, images in batches:
                queued = self.submit(images) if images.shape[0] else None
                if lagging is not None:
                    yield self._host(*lagging)
                    lagging = None
                if queued is None:
                    yield BatchResult(meta, np.zeros(0, np.float32), np.zeros((len(self.scoring.denoisers), 0),
                                                                                np.float32),
                                      np.zeros(0, np.int64), None)
                else:
                    lagging = (meta, queued)
            if lagging is not None:
                yield self._host(*lagging)


def _train_mode(module: torch.nn.Module, training: bool) -> None:
    try:
        module.train(training)
    except NotImplementedError:  # torch.export modules have no train/eval switch
        pass
