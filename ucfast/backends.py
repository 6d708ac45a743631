"""Explicit backend choice for every op: auto | cuda | triton | cpu | torch.

Each op registers one implementation per backend together with a function that says why that
implementation cannot run on given inputs (an empty list means it can). Nothing falls back
silently: a backend that was asked for and cannot run raises one error listing every reason.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Callable

import torch

ENV_VAR = "UCFAST_BACKEND"
NAMES = ("auto", "cuda", "triton", "cpu", "torch")
# Preference of `auto`, fastest first, per device type.
AUTO_ORDER = {"cuda": ("cuda", "triton", "torch"), "cpu": ("cpu", "torch")}


class BackendUnavailable(RuntimeError):
    """No requested backend can run this op on these inputs."""


@dataclass(frozen=True)
class Impl:
    fn: Callable
    reasons: Callable[..., list[str]]


_REGISTRY: dict[str, dict[str, Impl]] = {}


def register(op: str, backend: str, fn: Callable, reasons: Callable[..., list[str]] | None = None) -> None:
    """Register `fn` as `backend`'s implementation of `op`; `reasons(*args)` lists why it cannot run."""
    if backend not in NAMES or backend == "auto":
        raise ValueError(f"backend must be one of {NAMES[1:]}, got {backend!r}")
    _REGISTRY.setdefault(op, {})[backend] = Impl(fn, reasons or (lambda *a, **k: []))


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
            return name, impl.fn
        skipped.append(f"{name}: " + "; ".join(why))
    raise BackendUnavailable(
        f"no backend can run {op} (asked for backend={backend!r} on device {device}):\n  "
        + "\n  ".join(skipped)
    )


def available(op: str, device: torch.device, *args, **kwargs) -> dict[str, list[str]]:
    """For every backend name, why it cannot run `op` here (empty list: it can)."""
    out = {}
    for name in NAMES[1:]:
        impl = _REGISTRY.get(op, {}).get(name)
        out[name] = [f"no {name} implementation of {op} is installed"] if impl is None else impl.reasons(device, *args, **kwargs)
    return out
