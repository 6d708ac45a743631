"""The output folder of a sanitize job and its crash-safe progress.

    OUT/.ucfast/job.json         what was scored: dataset and model fingerprints, every setting
    OUT/.ucfast/chunks/c*.npz    one file per finished chunk of positions (the commit unit)
    OUT/.ucfast/lock             held (flock) by the process that owns OUT while it runs

Every file is written to a temporary name, flushed, fsync'ed and renamed over its final name
(os.replace), and the folder is fsync'ed: after a crash or kill -9 a chunk file is either whole or
absent, so a rerun of the same command redoes only the missing chunks. A rerun whose dataset,
model or scoring settings differ from job.json is refused instead of mixing results. A write that
fails (a full disk) names its file and leaves no temporary behind.

The lock dies with the job: a forked child (a DataLoader worker) closes its copy of the lock's
descriptor at once, so a worker that outlives a killed job does not lock its rerun out.
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

from . import faults

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


_HELD: set = set()  # lock files this process holds; a forked child closes its copies


def _close_held_locks() -> None:
    for f in list(_HELD):
        with contextlib.suppress(OSError):
            f.close()  # the child's descriptor only: the parent's flock stays held
    _HELD.clear()


os.register_at_fork(after_in_child=_close_held_locks)


def take_lock(path: str, busy: str):
    """An exclusive flock on `path` for this process: released when it exits (kill -9 included), never
    held by the children it forks (DataLoader workers); JobLocked(`busy` + advice) when another has it."""
    f = open(path, "a+")
    try:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as e:
        f.close()
        if e.errno in (errno.EAGAIN, errno.EACCES):
            raise JobLocked(f"{busy}; wait for it or use another output folder") from None
        raise
    _HELD.add(f)
    return f


def release_lock(f) -> None:
    """Undo `take_lock` (None: nothing held)."""
    if f is not None:
        _HELD.discard(f)
        fcntl.flock(f.fileno(), fcntl.LOCK_UN)
        f.close()


def temporary(path: str) -> str:
    return f"{path}.tmp-{os.getpid()}"


def named(error: OSError, path: str) -> OSError:
    """`error` (e.g. [Errno 28] No space left on device) naming the file it happened on."""
    if error.filename is not None:
        return error
    return OSError(error.errno, f"{error.strerror or error} while writing", path)


def remove_quietly(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


@contextlib.contextmanager
def synced_writer(tmp: str, mode: str = "wb"):
    """Write the file `tmp`: flushed and fsync'ed when the block ends; removed when it fails."""
    try:
        f = open(tmp, mode) if "b" in mode else open(tmp, mode, encoding="utf-8", newline="")
    except OSError as e:
        raise named(e, tmp) from None
    try:
        yield f
        f.flush()
        os.fsync(f.fileno())
        f.close()
    except BaseException as e:
        with contextlib.suppress(OSError):
            f.close()
        remove_quietly(tmp)
        if isinstance(e, OSError):
            raise named(e, tmp) from None
        raise


def fsync_file(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def replace(tmp: str, path: str) -> None:
    """Rename a written temporary over `path` and fsync the folder (the commit of one file)."""
    try:
        os.replace(tmp, path)
        fsync_dir(os.path.dirname(path) or ".")
    except OSError as e:
        remove_quietly(tmp)
        raise named(e, path) from None


@contextlib.contextmanager
def atomic_writer(path: str, mode: str = "wb"):
    """Write `path` through a temporary file: flushed, fsync'ed, renamed into place, folder fsync'ed."""
    tmp = temporary(path)
    with synced_writer(tmp, mode) as f:
        yield f
    replace(tmp, path)


def atomic_write_bytes(path: str, data: bytes) -> None:
    with atomic_writer(path) as f:
        f.write(data)


class Staging:
    """Output files written to temporaries first, then renamed into place together (`commit`), so
    a full disk or a kill while they are written replaces none of the previous ones."""

    def __init__(self, out: str):
        self.out = out
        self.files: dict[str, str] = {}  # final name -> temporary path, in the order staged

    def path(self, name: str) -> str:
        """The temporary path of output `name` (for a caller that writes it itself, fsync included)."""
        tmp = self.files[name] = temporary(os.path.join(self.out, name))
        return tmp

    @contextlib.contextmanager
    def writer(self, name: str, mode: str = "wb"):
        with synced_writer(self.path(name), mode) as f:
            yield f

    def commit(self, first: str) -> None:
        """Rename every staged file into place, `first` (report.json) before the others."""
        order = sorted(self.files, key=lambda name: name != first)
        for i, name in enumerate(order):
            os.replace(self.files[name], os.path.join(self.out, name))
            if i == 0:
                faults.point("report")
        fsync_dir(self.out)
        self.files.clear()

    def discard(self) -> None:
        for tmp in self.files.values():
            remove_quietly(tmp)
        self.files.clear()


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
                lines.append(f"the dataset changed: its fingerprint (file names, sizes and modification times;"
                             f" contents with verify) is {now} now, was {was}")
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

    def create(self, force: bool = False) -> None:
        """Make OUT and its state folder; an OUT that holds other files and no job is refused unless `force`."""
        if os.path.exists(self.out) and not os.path.isdir(self.out):
            raise NotADirectoryError(f"out: {self.out!r} exists and is not a folder")
        if os.path.isdir(self.out) and not os.path.isdir(self.state) and not force:
            foreign = sorted(os.listdir(self.out))
            if foreign:
                shown = ", ".join(foreign[:5]) + (f" (+{len(foreign) - 5} more)" if len(foreign) > 5 else "")
                raise FileExistsError(
                    f"out: {self.out} holds files no ucfast sanitize job wrote ({shown}) and no {STATE} folder;"
                    " a job would overwrite report.json, manifest.csv and the other outputs there. Give a new or"
                    " empty folder, or force=True (CLI --force) to write into it anyway")
        try:
            os.makedirs(self.chunks, exist_ok=True)
        except OSError as e:
            raise named(e, self.chunks) from None

    def lock(self) -> None:
        """Own OUT for this process (released when it exits, kill -9 included)."""
        self._lock = take_lock(os.path.join(self.state, "lock"), f"another ucfast sanitize is writing to {self.out}")

    def unlock(self) -> None:
        release_lock(self._lock)
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
                    errors: list, features: np.ndarray | None = None, backends: dict | None = None) -> None:
        """Commit one chunk: scores (and features) of positions start..start+len-1 (NaN / -1 where unreadable),
        and the backend each op ran on (so a resumed run reports what scored every chunk)."""
        buf = io.BytesIO()
        extra = {} if features is None else {"features": features}
        np.savez(buf, start=np.int64(start), total=total, dist=dist, pred=pred,
                 errors=np.frombuffer(json.dumps(errors).encode(), dtype=np.uint8),
                 backends=np.frombuffer(json.dumps(backends or {}, sort_keys=True).encode(), dtype=np.uint8), **extra)
        path = self.chunk_path(chunk)
        with synced_writer(temporary(path)) as f:
            f.write(buf.getvalue())
        faults.point("commit")
        replace(temporary(path), path)

    def read_chunk(self, chunk: int, start: int, stop: int) -> dict:
        path = self.chunk_path(chunk)
        with np.load(path) as z:
            data = {k: z[k] for k in ("total", "dist", "pred")}
            data["features"] = z["features"] if "features" in z.files else None
            data["errors"] = json.loads(z["errors"].tobytes().decode())
            data["backends"] = json.loads(z["backends"].tobytes().decode()) if "backends" in z.files else {}
            if int(z["start"]) != start or data["total"].shape[0] != stop - start:
                raise JobMismatch(f"{path} holds positions {int(z['start'])}.. ({data['total'].shape[0]}), expected"
                                  f" {start}..{stop - 1}; delete {self.out} to start over")
        return data
