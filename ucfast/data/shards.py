"""`TarShards`: WebDataset-style tar shards, read as a stream.

A shard is a plain tar file; consecutive members that share a key (the member name up to the first
dot of its base name) form one sample: `abc.jpg` + `abc.cls` is sample "abc" with a JPEG image and
a label. Images are the first member with an image extension (jpg, jpeg, png, webp, ...), labels
the text integer of a `cls`/`label`/`target` member (-1 when a sample has none).

Dataset positions run over the shards in the order given (a folder or glob is sorted). An index
pass reads every header once (member data is skipped with seeks, except the tiny label members)
and records, per sample, its key, label and the byte offset of its first member, so any range of
samples can be streamed by seeking straight to it. The index can be cached in a file.
"""
from __future__ import annotations

import glob
import hashlib
import os
import re
import tarfile

import numpy as np
import torch

from .fingerprint import file_stamp
from .folder import (SKIP_HINT, Batch, ImageReadError, Paths, Unreadable, collate_items, decode, is_jpeg,
                     reading_options)

IMAGE_EXTENSIONS = ("jpg", "jpeg", "png", "webp", "ppm", "bmp", "tif", "tiff")
LABEL_EXTENSIONS = ("cls", "label", "target")
_KEY = re.compile(r"^((?:.*/|)[^./]+)[.]([^/]*)$")


def expand(shards) -> list[str]:
    """Shard paths from a folder (its *.tar, sorted), a glob, a {000..009} brace range, or a list."""
    if isinstance(shards, (list, tuple)):
        out = [os.fspath(s) for s in shards]
    else:
        spec = os.fspath(shards)
        if os.path.isdir(spec):
            out = sorted(glob.glob(os.path.join(glob.escape(spec), "*.tar")))
            if not out:
                raise FileNotFoundError(f"shard folder {spec!r} holds no .tar files")
        else:
            m = re.search(r"\{(\d+)\.\.(\d+)\}", spec)
            if m:
                width, lo, hi = len(m.group(1)), int(m.group(1)), int(m.group(2))
                out = [spec[:m.start()] + str(i).zfill(width) + spec[m.end():] for i in range(lo, hi + 1)]
            elif glob.has_magic(spec):
                out = sorted(glob.glob(spec))
                if not out:
                    raise FileNotFoundError(f"no shard matches {spec!r}")
            else:
                out = [spec]
    if not out:
        raise ValueError("no shards given")
    for path in out:
        if not os.path.isfile(path):
            raise FileNotFoundError(f"shard {path!r} does not exist or is not a file")
    return [os.path.abspath(p) for p in out]


def _split(name: str):
    m = _KEY.match(name)
    return (m.group(1), m.group(2).lower()) if m else (None, None)


def _members(tf: tarfile.TarFile):
    """(member, sample key, extension) of the sample files of a tar, in order; other entries skipped."""
    for member in tf:
        if not member.isfile():
            continue
        key, ext = _split(member.name)
        if key is not None and not os.path.basename(key).startswith("__"):
            yield member, key, ext


def scan(path: str):
    """(keys, offsets, labels) of the samples of one shard; raises naming the shard if it is not a tar."""
    keys, offsets, labels = [], [], []
    try:
        with tarfile.open(path, mode="r:") as tf:
            current = None
            for member, key, ext in _members(tf):
                if key != current:
                    current = key
                    keys.append(key)
                    offsets.append(member.offset)
                    labels.append(-1)
                if ext in LABEL_EXTENSIONS and labels[-1] == -1:
                    text = tf.extractfile(member).read()
                    try:
                        labels[-1] = int(text.decode().strip())
                    except (UnicodeDecodeError, ValueError):
                        raise ValueError(f"shard {path}: sample {key!r} has a .{ext} member that is not an integer"
                                         f" label: {text[:40]!r}") from None
    except (tarfile.TarError, OSError, EOFError) as e:
        raise ValueError(f"shard {path} cannot be read as a tar file: {type(e).__name__}: {e}") from None
    return keys, offsets, labels


class TarShards(torch.utils.data.IterableDataset):
    """Samples of WebDataset-style tar shards as (uint8 [3, H, W], label, index), streamed.

    resize / crop / on_error / decode / verify as in `ImageFolder`. The fingerprint covers every
    shard's name, size and modification time (and content, with verify). `index_cache`: a file to
    keep the index pass in (reused while the fingerprint is unchanged). Iterating the dataset streams
    every sample, the shards split over DataLoader workers; `stream(ranges, batch_size)` streams
    given position ranges as collated batches.
    """

    def __init__(self, shards, *, resize: int | None = None, crop: int | None = None, on_error: str = "raise",
                 decode: bool = True, index_cache=None, verify: bool = False):
        self.resize, self.crop, self.on_error, self.decode = reading_options(resize, crop, on_error, decode)
        self.shards = expand(shards)
        digest = hashlib.sha256()
        for path in self.shards:
            digest.update(os.path.basename(path).encode() + b"\0" + file_stamp(path, verify) + b"\0")
        self.fingerprint = digest.hexdigest()
        if index_cache is not None and os.path.exists(index_cache):
            with np.load(index_cache) as z:
                if str(z["fingerprint"]) == self.fingerprint:
                    self._set_index(z["starts"], z["offsets"], z["labels"], z["key_buffer"], z["key_offsets"])
                    return
        self._index()
        if index_cache is not None:
            tmp = f"{index_cache}.tmp-{os.getpid()}"
            with open(tmp, "wb") as f:
                np.savez(f, fingerprint=np.array(self.fingerprint), starts=self.starts, offsets=self.offsets,
                         labels=self.labels, key_buffer=self.keys._buffer, key_offsets=self.keys._offsets)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, index_cache)

    def _index(self) -> None:
        starts, offsets, labels, encoded = [0], [], [], []
        for path in self.shards:
            keys, offs, labs = scan(path)
            starts.append(starts[-1] + len(keys))
            offsets.append(np.asarray(offs, dtype=np.int64))
            labels.append(np.asarray(labs, dtype=np.int64))
            encoded.extend(k.encode("utf-8", "surrogateescape") for k in keys)
        key_offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
        np.cumsum(np.fromiter((len(k) for k in encoded), dtype=np.int64, count=len(encoded)), out=key_offsets[1:])
        self._set_index(np.asarray(starts, dtype=np.int64), np.concatenate(offsets), np.concatenate(labels),
                        np.frombuffer(b"".join(encoded), dtype=np.uint8), key_offsets)
        if len(self) == 0:
            raise ValueError(f"the shards hold no samples: {self.shards[:3]}{' ...' if len(self.shards) > 3 else ''}")

    def _set_index(self, starts, offsets, labels, key_buffer, key_offsets) -> None:
        self.starts = starts  # [S + 1] first dataset position of each shard
        self.offsets = offsets  # [N] byte offset of each sample's first member in its shard
        self.labels = labels  # [N] int64, -1 where a sample has no label member
        self.keys = Paths("", key_buffer, key_offsets)

    def __len__(self) -> int:
        return int(self.starts[-1])

    def shard_of(self, index: int) -> int:
        return int(np.searchsorted(self.starts, index, side="right")) - 1

    def sample_id(self, index: int) -> str:
        """'<shard file>:<key>' of a dataset position."""
        return f"{os.path.basename(self.shards[self.shard_of(index)])}:{self.keys[index]}"

    def boundaries(self) -> np.ndarray:
        """[S + 1] dataset positions where shards start (and the end)."""
        return self.starts

    def _image(self, data: bytes, where: str):
        if not self.decode:
            raw = torch.frombuffer(bytearray(data), dtype=torch.uint8)
            if is_jpeg(raw):
                return raw
        try:
            return decode(data, self.resize, self.crop)
        except ImageReadError as e:
            if self.on_error == "raise":
                raise ImageReadError(f"cannot read image {where}: {e} {SKIP_HINT}") from None
            return Unreadable(where, str(e))

    def samples(self, start: int, stop: int):
        """Yield (image | Unreadable, label, index) for dataset positions start..stop-1 (one shard's range)."""
        shard = self.shard_of(start)
        path = self.shards[shard]
        if stop > self.starts[shard + 1]:
            raise ValueError(f"range {start}..{stop} crosses the end of shard {path}")
        with open(path, "rb") as f:
            f.seek(int(self.offsets[start]))
            with tarfile.open(fileobj=f, mode="r:") as tf:
                index, current, image = start - 1, None, None
                for member, key, ext in _members(tf):
                    if key != current:
                        if current is not None:
                            yield self._finish(image, index, path, current)
                        index += 1
                        if index >= stop:
                            return
                        current, image = key, None
                    if image is None and ext in IMAGE_EXTENSIONS:
                        image = self._image(tf.extractfile(member).read(), f"{path}:{member.name}")
                if current is not None and index < stop:
                    yield self._finish(image, index, path, current)

    def _finish(self, image, index, path, key):
        if image is None:
            where = f"{path}:{key}"
            reason = f"sample has no image member (one of .{', .'.join(IMAGE_EXTENSIONS)})"
            if self.on_error == "raise":
                raise ImageReadError(f"cannot read image {where}: {reason} {SKIP_HINT}")
            image = Unreadable(where, reason)
        return image, int(self.labels[index]), index

    def collate(self, items) -> Batch:
        return collate_items(items, self.sample_id)

    def stream(self, ranges, batch_size: int):
        """A DataLoader-ready iterable of `Batch`es over position ranges, none crossing a shard.

        Ranges are dealt round-robin to DataLoader workers; batches never cross a range.
        """
        return _RangeStream(self, [(int(a), int(b)) for a, b in ranges], int(batch_size))

    def __iter__(self):
        info = torch.utils.data.get_worker_info()
        wid, nw = (info.id, info.num_workers) if info is not None else (0, 1)
        for shard in range(wid, len(self.shards), nw):
            if self.starts[shard + 1] > self.starts[shard]:
                yield from self.samples(int(self.starts[shard]), int(self.starts[shard + 1]))

    def __repr__(self) -> str:
        return (f"TarShards(shards={len(self.shards)}, samples={len(self)}, resize={self.resize},"
                f" crop={self.crop}, on_error={self.on_error!r})")


class _RangeStream(torch.utils.data.IterableDataset):
    def __init__(self, shards: TarShards, ranges, batch_size: int):
        self.shards, self.ranges, self.batch_size = shards, ranges, batch_size

    def __iter__(self):
        info = torch.utils.data.get_worker_info()
        wid, nw = (info.id, info.num_workers) if info is not None else (0, 1)
        for start, stop in self.ranges[wid::nw]:
            items = []
            for item in self.shards.samples(start, stop):
                items.append(item)
                if len(items) == self.batch_size:
                    yield self.shards.collate(items)
                    items = []
            if items:
                yield self.shards.collate(items)
