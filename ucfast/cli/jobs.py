"""What the job commands (`sanitize`, `clean`) share: settings from the arguments, one error report."""
from __future__ import annotations

import os
import sys


def settings_from(args, cls):
    """The settings dataclass `cls` from the parsed arguments of the same names (--no-progress: progress)."""
    names = {f for f in cls.__dataclass_fields__ if f != "progress"}
    return cls(**{k: v for k, v in vars(args).items() if k in names}, progress=not args.no_progress)


def is_rank0() -> bool:
    return int(os.environ.get("RANK", "0")) == 0


def run_job(command: str, job, summary) -> int:
    """Run `job()`; print `summary(result)` on rank 0 (0), or a user error without a traceback (1)."""
    from ..ops.backends import BackendUnavailable
    from ..sanitize import JobLocked, RankFailed
    from ..sanitize.distributed import describe

    try:
        result = job()
    except (ValueError, TypeError, OSError, MemoryError, JobLocked, RankFailed, BackendUnavailable) as e:
        if not isinstance(e, RankFailed) or is_rank0():
            print(f"ucfast {command}: error: {describe(e).partition(': ')[2]}", file=sys.stderr)
        return 1
    if is_rank0():
        print(summary(result))
    return 0
