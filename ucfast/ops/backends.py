"""Explicit backend choice for every op: auto | cuda | triton | cpu | torch.

Each backend registers, for every op it implements, the implementation and a function that says
why it cannot run on given inputs (an empty list means it can): the torch reference in
ucfast/ops/torch_backend.py, the compiled modules in ucfast/ops/cpu.py and cuda.py, Triton in
ucfast/kernels/__init__.py. Nothing falls back silently: a backend that was asked for and cannot
run raises one error listing every reason, and `auto` landing on the slow torch reference warns
(`ReferenceFallback`) with the reasons the faster backends gave.
"""
from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from typing import Callable

import torch

ENV_VAR = "UCFAST_BACKEND"
NAMES = ("auto", "cuda", "triton", "cpu", "torch")
# Preference of `auto`, fastest first, per device type.
AUTO_ORDER = {"cuda": ("cuda", "triton", "torch"), "cpu": ("cpu", "torch")}


class BackendUnavailable(RuntimeError):
    """No requested backend can run this op on these inputs."""


class ReferenceFallback(UserWarning):
    """backend="auto" runs an op on the torch reference because no faster backend can run it."""


@dataclass(frozen=True)
class Impl:
    fn: Callable
    reasons: Callable[..., list[str]]
    device_reasons: Callable[[torch.device], list[str]]


_REGISTRY: dict[str, dict[str, Impl]] = {}


def register(op: str, backend: str, fn: Callable, reasons: Callable[..., list[str]] | None = None,
             device_reasons: Callable[[torch.device], list[str]] | None = None) -> None:
    """Register `fn` as `backend`'s implementation of `op`. `reasons(device, *args)` lists why it cannot
    run on these inputs; `device_reasons(device)` why it cannot run on that device whatever the inputs."""
    if backend not in NAMES or backend == "auto":
        raise ValueError(f"backend must be one of {NAMES[1:]}, got {backend!r}")
    _REGISTRY.setdefault(op, {})[backend] = Impl(fn, reasons or (lambda *a, **k: []),
                                                 device_reasons or (lambda device: []))


def requested(backend: str) -> str:
    """The backend a call asked for; `auto` is replaced by $UCFAST_BACKEND when that is set."""
    if backend == "auto":
        backend = os.environ.get(ENV_VAR, "").strip().lower() or "auto"
        if backend not in NAMES:
            raise ValueError(f"${ENV_VAR} must be one of {NAMES}, got {backend!r}")
    elif backend not in NAMES:
        raise ValueError(f"backend must be one of {NAMES}, got {backend!r}")
    return backend


def resolve(op: str, backend: str, device: torch.device, *args, **kwargs) -> tuple[str, Callable]:
    """Pick the implementation of `op` for a call on `device`; `args` go to the reasons functions."""
    backend = requested(backend)
    impls = _REGISTRY.get(op, {})
    candidates = AUTO_ORDER.get(device.type, ("torch",)) if backend == "auto" else (backend,)
    skipped = []
    for name in candidates:
        impl = impls.get(name)
        if impl is None:
            skipped.append(f"{name}: no {name} implementation of {op} is installed")
            continue
        why = impl.reasons(device, *args, **kwargs)
        if not why:
            if backend == "auto" and name == "torch" and skipped:
                warnings.warn(f"ucfast: {op} runs on the slow torch reference on {device} because no faster"
                              " backend can run it:\n  " + "\n  ".join(skipped), ReferenceFallback, stacklevel=3)
            return name, impl.fn
        skipped.append(f"{name}: " + "; ".join(why))
    raise BackendUnavailable(
        f"no backend can run {op} (asked for backend={backend!r} on device {device}):\n  "
        + "\n  ".join(skipped)
    )


def available(op: str, device: torch.device, *args, **kwargs) -> dict[str, list[str]]:
    """For every backend name, why it cannot run `op` on `device` (empty list: it can): on these inputs
    when they are given, otherwise whatever the inputs."""
    out = {}
    for name in NAMES[1:]:
        impl = _REGISTRY.get(op, {}).get(name)
        if impl is None:
            out[name] = [f"no {name} implementation of {op} is installed"]
        elif args or kwargs:
            out[name] = impl.reasons(device, *args, **kwargs)
        else:
            out[name] = impl.device_reasons(device)
    return out
