"""What a data file contributes to a dataset's resume fingerprint: its size and modification time
(nanoseconds), and with `verify` the sha256 of its content (streamed)."""
from __future__ import annotations

import hashlib
import os

BLOCK = 1 << 20


def content_sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(BLOCK), b""):
            digest.update(block)
    return digest.hexdigest()


def file_stamp(path: str, verify: bool, st: os.stat_result | None = None) -> bytes:
    """b"size mtime_ns[ sha256]" of the file `path` (`st`: its os.stat, following links); b"missing"
    when it cannot be stat'ed (a dangling link: reported when it is read)."""
    if st is None:
        try:
            st = os.stat(path)
        except OSError:
            return b"missing"
    stamp = f"{st.st_size} {st.st_mtime_ns}"
    if verify:
        try:
            stamp += " " + content_sha256(path)
        except OSError:
            stamp += " unreadable"
    return stamp.encode()
