"""The output folder of a sanitize job and its crash-safe progress.

    OUT/.ucfast/job.json         what was scored: dataset and model fingerprints, every setting
    OUT/.ucfast/chunks/c*.npz    one file per finished chunk of positions (the commit unit)
    OUT/.ucfast/lock             held (flock) by the process that owns OUT while it runs

Every file is written to a temporary name, flushed, fsync'ed and renamed over its final name
(os.replace), and the folder is fsync'ed: after a crash or kill -9 a chunk file is either whole or
absent, so a rerun of the same command redoes only the missing chunks. A rerun whose dataset,
model or scoring settings differ from job.json is refused instead of mixing results.
"""
from __future__ import annotations

import contextlib
import errno
import fcntl
import io
import json
import os
import re

import numpy as np

STATE = ".ucfast"
FORMAT = 1
_CHUNK = re.compile(r"^c(\d{8})\.npz$")


class JobMismatch(ValueError):
    """OUT holds a job for other data, another model or other settings."""


class JobLocked(RuntimeError):
    """Another process is writing to OUT."""


def fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_writer(path: str, mode: str = "wb"):
    """Write `path` through a temporary file: flushed, fsync'ed, renamed into place, folder fsync'ed."""
    tmp = f"{path}.tmp-{os.getpid()}"
    f = open(tmp, mode) if "b" in mode else open(tmp, mode, encoding="utf-8", newline="")
    try:
        yield f
        f.flush()
        os.fsync(f.fileno())
        f.close()
        os.replace(tmp, path)
        fsync_dir(os.path.dirname(path) or ".")
    except BaseException:
        f.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def atomic_write_bytes(path: str, data: bytes) -> None:
    with atomic_writer(path) as f:
        f.write(data)


def dumps(obj) -> str:
    """JSON with sorted keys and fixed formatting, so equal content gives equal bytes."""
    return json.dumps(obj, indent=2, sort_keys=True, allow_nan=False) + "\n"


def _describe(old: dict, new: dict) -> list[str]:
    lines = []
    for section in sorted(set(old) | set(new)):
        a, b = old.get(section), new.get(section)
        if a == b:
            continue
        if not isinstance(a, dict) or not isinstance(b, dict):
            lines.append(f"{section}: the job has {a!r}, this run has {b!r}")
            continue
        for key in sorted(set(a) | set(b)):
            if a.get(key) == b.get(key):
                continue
            was, now = a.get(key), b.get(key)
            if section == "model" and key == "sha256":
                lines.append(f"the model changed: its sha256 is {now} now, the job's model had {was}")
            elif section == "dataset" and key == "fingerprint":
                lines.append(f"the dataset changed: its fingerprint (file list and sizes) is {now} now, was {was}")
            else:
                lines.append(f"{section} setting {key!r} changed: the job has {was!r}, this run has {now!r}")
    return lines


class JobDir:
    def __init__(self, out):
        self.out = os.path.abspath(os.fspath(out))
        self.state = os.path.join(self.out, STATE)
        self.chunks = os.path.join(self.state, "chunks")
        self.spec_path = os.path.join(self.state, "job.json")
        self._lock = None

    def create(self) -> None:
        if os.path.exists(self.out) and not os.path.isdir(self.out):
            raise NotADirectoryError(f"out: {self.out!r} exists and is not a folder")
        os.makedirs(self.chunks, exist_ok=True)

    def lock(self) -> None:
        """Own OUT for this process (released when it exits, kill -9 included)."""
        f = open(os.path.join(self.state, "lock"), "a+")
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            f.close()
            if e.errno in (errno.EAGAIN, errno.EACCES):
                raise JobLocked(f"another ucfast sanitize is writing to {self.out}; wait for it or use another"
                                " output folder") from None
            raise
        self._lock = f

    def unlock(self) -> None:
        if self._lock is not None:
            fcntl.flock(self._lock.fileno(), fcntl.LOCK_UN)
            self._lock.close()
            self._lock = None

    def check_or_write(self, spec: dict) -> bool:
        """Write job.json for a new job, or check it against this run's; True when resuming."""
        spec = dict(spec, format=FORMAT)
        if not os.path.exists(self.spec_path):
            atomic_write_bytes(self.spec_path, dumps(spec).encode())
            return False
        with open(self.spec_path) as f:
            old = json.load(f)
        if old != spec:
            lines = _describe(old, spec)
            raise JobMismatch(
                f"{self.out} holds a sanitize job that does not match this run:\n  - " + "\n  - ".join(lines)
                + f"\nRefusing to mix results: use another output folder, or delete {self.out} to start over."
            )
        return True

    def clean_temporaries(self) -> None:
        """Remove what a killed run left half-written (temporary files only)."""
        for folder in (self.out, self.state, self.chunks):
            for name in os.listdir(folder):
                if ".tmp-" in name:
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(os.path.join(folder, name))

    def done(self, num_chunks: int) -> np.ndarray:
        """[num_chunks] bool: which chunks are committed."""
        out = np.zeros(num_chunks, dtype=bool)
        for name in os.listdir(self.chunks):
            m = _CHUNK.match(name)
            if m and int(m.group(1)) < num_chunks:
                out[int(m.group(1))] = True
        return out

    def chunk_path(self, chunk: int) -> str:
        return os.path.join(self.chunks, f"c{chunk:08d}.npz")

    def write_chunk(self, chunk: int, start: int, total: np.ndarray, dist: np.ndarray, pred: np.ndarray,
                    errors: list, features: np.ndarray | None = None) -> None:
        """Commit one chunk: scores (and features) of positions start..start+len-1 (NaN / -1 where unreadable)."""
        buf = io.BytesIO()
        extra = {} if features is None else {"features": features}
        np.savez(buf, start=np.int64(start), total=total, dist=dist, pred=pred,
                 errors=np.frombuffer(json.dumps(errors).encode(), dtype=np.uint8), **extra)
        atomic_write_bytes(self.chunk_path(chunk), buf.getvalue())

    def read_chunk(self, chunk: int, start: int, stop: int) -> dict:
        path = self.chunk_path(chunk)
        with np.load(path) as z:
            data = {k: z[k] for k in ("total", "dist", "pred")}
            data["features"] = z["features"] if "features" in z.files else None
            data["errors"] = json.loads(z["errors"].tobytes().decode())
            if int(z["start"]) != start or data["total"].shape[0] != stop - start:
                raise JobMismatch(f"{path} holds positions {int(z['start'])}.. ({data['total'].shape[0]}), expected"
                                  f" {start}..{stop - 1}; delete {self.out} to start over")
        return data
