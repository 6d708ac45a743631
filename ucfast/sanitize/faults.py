"""Fault injection for the crash-safety tests: `UCFAST_FAULT=stage:count` makes the job kill itself
(SIGKILL, as `kill -9` would) the count-th time it passes the named point.

The points: "batch" (a batch's scores reached the chunk buffer), "commit" (a chunk file is written
to its temporary name, not yet renamed), "merge" (one merged output array is staged), "report"
(report.json is renamed into place, the other outputs not yet). Unset, a point costs one dict lookup.
"""
from __future__ import annotations

import os
import signal

STAGES = ("batch", "commit", "merge", "report")
_passed: dict[str, int] = {}


def _target() -> tuple[str, int] | None:
    spec = os.environ.get("UCFAST_FAULT")
    if not spec:
        return None
    stage, _, count = spec.partition(":")
    if stage not in STAGES or not count.isdigit() or int(count) < 1:
        raise ValueError(f"UCFAST_FAULT must be STAGE:COUNT with STAGE one of {STAGES} and COUNT >= 1, got {spec!r}")
    return stage, int(count)


def point(stage: str) -> None:
    """Die here (SIGKILL) when UCFAST_FAULT names this stage and its count is reached."""
    target = _target()
    if target is None or target[0] != stage:
        return
    _passed[stage] = _passed.get(stage, 0) + 1
    if _passed[stage] == target[1]:
        os.kill(os.getpid(), signal.SIGKILL)
