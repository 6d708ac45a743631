"""torch.distributed for `ucfast sanitize` under torchrun: NCCL on GPUs, gloo on CPUs.

Every rank scores a disjoint, deterministic share of the unfinished chunks and commits its chunk
files; rank 0 owns the output folder (lock, job.json, the merge). Decisions rank 0 takes are
broadcast, and every rank's outcome is gathered, so a failure on any rank is reported by rank and
error on all of them. Small Python objects travel over a gloo group, whatever the device.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta

import numpy as np
import torch
import torch.distributed as dist

# Ranks wait for each other only at the start and the end; the end waits for the slowest rank.
TIMEOUT = timedelta(hours=24)


class RankFailed(RuntimeError):
    """One or more ranks of a distributed run failed; the message names each rank and its error."""


@dataclass
class Context:
    rank: int = 0
    world: int = 1
    local_rank: int = 0
    owned: bool = False  # this module initialised the process group and tears it down
    group: object = None  # gloo group for object collectives (None: the default group)

    @property
    def active(self) -> bool:
        return self.world > 1


def requested() -> bool:
    """Whether this process runs under torchrun (or an initialised process group) with more than one rank."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_world_size() > 1
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def local_rank() -> int:
    return int(os.environ.get("LOCAL_RANK", "0"))


def setup(device: torch.device) -> Context:
    """Join (or start, under torchrun) the process group; a one-rank Context when not distributed."""
    if not requested():
        return Context()
    owned = False
    if not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        if backend == "nccl":
            torch.cuda.set_device(device)
        dist.init_process_group(backend, timeout=TIMEOUT)
        owned = True
    group = None if dist.get_backend() == "gloo" else dist.new_group(backend="gloo", timeout=TIMEOUT)
    return Context(dist.get_rank(), dist.get_world_size(), local_rank(), owned, group)


def teardown(ctx: Context) -> None:
    if ctx.owned and dist.is_initialized():
        dist.destroy_process_group()


def gather(ctx: Context, obj) -> list:
    """obj of every rank, in rank order, on every rank."""
    if not ctx.active:
        return [obj]
    out = [None] * ctx.world
    dist.all_gather_object(out, obj, group=ctx.group)
    return out


def barrier(ctx: Context) -> None:
    if ctx.active:
        dist.barrier(group=ctx.group)


def describe(error: BaseException) -> str:
    """'Type: message'; for an error re-raised from a DataLoader worker, the worker's own last line."""
    text = str(error)
    if "Original Traceback" in text:
        last = [line for line in text.splitlines() if line.strip()][-1]  # "package.module.Type: message"
        kind, _, message = last.partition(": ")
        return f"{kind.rsplit('.', 1)[-1]}: {message}"
    return f"{type(error).__name__}: {text}"


def on_rank0(ctx: Context, fn):
    """Run fn on rank 0 and hand its result to every rank; its error is raised on every rank."""
    if not ctx.active:
        return fn()
    result, error, failure = None, None, None
    if ctx.rank == 0:
        try:
            result = fn()
        except Exception as e:
            error, failure = e, describe(e)
    box = [(result, failure)]
    dist.broadcast_object_list(box, src=0, group=ctx.group)
    result, failure = box[0]
    if error is not None:
        raise error
    if failure is not None:
        raise RankFailed(f"rank 0 failed: {failure}")
    return result


def check_all(ctx: Context, error: BaseException | None) -> None:
    """Gather every rank's outcome; if any failed, raise one error naming each failed rank."""
    outcomes = gather(ctx, None if error is None else describe(error))
    failed = [(r, msg) for r, msg in enumerate(outcomes) if msg is not None]
    if not failed:
        return
    if not ctx.active:
        raise error
    lines = "\n  ".join(f"rank {r}: {msg}" for r, msg in failed)
    raise RankFailed(f"{len(failed)} of {ctx.world} ranks failed:\n  {lines}") from error


def share(pending: np.ndarray, ctx: Context) -> np.ndarray:
    """This rank's chunks: contiguous, nearly equal slices of the pending chunks, in rank order."""
    return np.array_split(pending, ctx.world)[ctx.rank] if ctx.active else pending


def everywhere(ctx: Context, fn):
    """Run fn on every rank; if it fails anywhere, raise on every rank, naming the failed ranks."""
    result, error = None, None
    try:
        result = fn()
    except Exception as e:
        if not ctx.active:
            raise
        error = e
    check_all(ctx, error)
    return result


def rank0_first(ctx: Context, fn):
    """Run fn on rank 0, then on the other ranks: for steps that fill a cache or create folders the
    others then reuse. A failure anywhere is raised on every rank."""
    if not ctx.active:
        return fn()
    result, error = None, None
    if ctx.rank == 0:
        try:
            result = fn()
        except Exception as e:
            error = e
    box = [None if error is None else describe(error)]
    dist.broadcast_object_list(box, src=0, group=ctx.group)
    if box[0] is not None:
        check_all(ctx, error)  # raises on every rank, naming rank 0
    if ctx.rank != 0:
        return everywhere(ctx, fn)
    check_all(ctx, None)
    return result
