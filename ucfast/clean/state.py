"""The output folder of a `ucfast clean` run and its stage markers.

    OUT/.clean/spec.json         what the run is: the data's fingerprint and every setting that decides
                                 the outputs; a rerun with another spec is refused
    OUT/.clean/<stage>.json      written (atomically) when a stage has finished: its seconds and results;
                                 a rerun skips every stage that has one
    OUT/.clean/<stage>-state.pt  a training stage's resumable checkpoint
    OUT/.clean/lock              held (flock) by the process that owns OUT while it runs
"""
from __future__ import annotations

import hashlib
import json
import os

from ..sanitize.job import JobMismatch, atomic_write_bytes, dumps, release_lock, take_lock

STATE = ".clean"


class RunDir:
    def __init__(self, out):
        self.out = os.path.abspath(os.fspath(out))
        self.state = os.path.join(self.out, STATE)
        self._lock = None

    def path(self, name: str) -> str:
        return os.path.join(self.out, name)

    def state_path(self, name: str) -> str:
        return os.path.join(self.state, name)

    def create(self) -> None:
        if os.path.exists(self.out) and not os.path.isdir(self.out):
            raise NotADirectoryError(f"out: {self.out!r} exists and is not a folder")
        os.makedirs(self.state, exist_ok=True)

    def lock(self) -> None:
        """Own OUT for this process (released when it exits, kill -9 included; not held by workers)."""
        self._lock = take_lock(self.state_path("lock"), f"another ucfast clean is writing to {self.out}")

    def unlock(self) -> None:
        release_lock(self._lock)
        self._lock = None

    def check_or_write(self, spec: dict) -> str:
        """Write spec.json for a new run, or check it against this run's; returns the spec's sha256."""
        path = self.state_path("spec.json")
        text = dumps(spec)
        if os.path.exists(path):
            with open(path) as f:
                old = json.load(f)
            if old != json.loads(text):
                changed = sorted(k for k in set(old) | set(spec) if old.get(k) != spec.get(k))
                keys = sorted(set(old.get("settings", {})) | set(spec.get("settings", {})))
                settings = [f"{k}: {old.get('settings', {}).get(k)!r} -> {spec.get('settings', {}).get(k)!r}"
                            for k in keys if old.get("settings", {}).get(k) != spec.get("settings", {}).get(k)]
                raise JobMismatch(f"{self.out} holds a ucfast clean run that does not match this one (changed:"
                                  f" {', '.join(changed)}{'; ' + ', '.join(settings) if settings else ''}). Refusing"
                                  f" to mix results: use another output folder, or delete {self.out} to start over.")
        else:
            atomic_write_bytes(path, text.encode())
        return hashlib.sha256(text.encode()).hexdigest()

    def marker(self, stage: str) -> dict | None:
        path = self.state_path(f"{stage}.json")
        if not os.path.exists(path):
            return None
        with open(path) as f:
            return json.load(f)

    def mark(self, stage: str, record: dict) -> None:
        atomic_write_bytes(self.state_path(f"{stage}.json"), dumps(record).encode())

    def clean_temporaries(self) -> None:
        """Remove what a killed run left half-written (temporary files only)."""
        for folder in (self.out, self.state):
            for name in os.listdir(folder):
                if ".tmp-" in name:
                    try:
                        os.unlink(os.path.join(folder, name))
                    except FileNotFoundError:
                        pass
