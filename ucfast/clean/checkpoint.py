"""Resumable training state, written atomically by rank 0: model, optimizer, scheduler, epoch and the
step within it (the sampler's position), and what the state belongs to.

A checkpoint is a plain dict of tensors and numbers (it loads with weights_only=True). Written to a
temporary name, fsync'ed and renamed over the old one, so a kill -9 leaves either the previous
checkpoint or the new one, never half of one.
"""
from __future__ import annotations

import io
import os

import torch

from ..sanitize.job import atomic_write_bytes


def save(path: str, obj) -> None:
    """torch.save `obj` to `path` atomically."""
    buf = io.BytesIO()
    torch.save(obj, buf)
    atomic_write_bytes(path, buf.getvalue())


def load(path: str, spec: str) -> dict | None:
    """The checkpoint at `path` (None when there is none); refused when it belongs to another run."""
    if not os.path.exists(path):
        return None
    state = torch.load(path, map_location="cpu", weights_only=True)
    if state.get("spec") != spec:
        raise ValueError(f"the training checkpoint {path} belongs to another run (other data, settings or world"
                         f" size: spec {state.get('spec')!r}, this run {spec!r}); resume with the same settings and"
                         " the same number of processes, or delete it to train from the start")
    return state
