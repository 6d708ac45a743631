"""The sanitize job's side of the scoring engine: chunks of positions -> DataLoader -> `ucfast.engine.Engine`
-> committed chunk files.

Memory is O(batch) for the pipeline plus O(chunk) for the chunks being filled; scores leave the
process chunk by chunk. uint8 pixels go to the device (pinned memory, non-blocking copies) and are
normalised there by the variants op; the engine copies each batch's results back one batch later,
so the device never waits for the host. JPEGs can be decoded on the GPU.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch

from ..data.folder import ImageReadError, resize_crop_tensor
from ..engine import Engine, RunSettings, ScoreSettings, check_label_range
from . import faults

FEATURE_DTYPE = np.float16  # features in chunk files and features.npy: half the disk of float32


@dataclass(frozen=True)
class Loading:
    """How the job reads its data: batch size, DataLoader workers, GPU JPEG decoding, resize/crop, errors."""

    batch_size: int
    workers: int
    gpu_decode: bool
    resize: int | None
    crop: int | None
    on_error: str


def chunk_bounds(breaks: np.ndarray, n: int, chunk_size: int) -> np.ndarray:
    """[C + 1] positions: chunks of `chunk_size` that restart at every break (shard start)."""
    edges = [np.arange(a, b, chunk_size, dtype=np.int64) for a, b in zip(breaks[:-1], breaks[1:]) if b > a]
    return np.concatenate(edges + [np.array([n], dtype=np.int64)])


class ChunkBuffer:
    """Scores of one chunk while its batches arrive."""

    def __init__(self, start: int, stop: int, num_dist: int):
        n = stop - start
        self.start, self.stop = start, stop
        self.features = None  # [n, D] FEATURE_DTYPE once the first batch with features arrives
        self.total = np.full(n, np.nan, dtype=np.float32)
        self.dist = np.full((num_dist, n), np.nan, dtype=np.float32)
        self.pred = np.full(n, -1, dtype=np.int64)
        self.seen = np.zeros(n, dtype=bool)
        self.errors = []

    def _mark(self, at: np.ndarray) -> None:
        if at.size and (at.min() < 0 or at.max() >= self.seen.size or self.seen[at].any()):
            raise RuntimeError(f"the loader yielded positions outside chunk {self.start}..{self.stop - 1} or twice")
        self.seen[at] = True

    def put(self, indices: np.ndarray, total: np.ndarray, dist: np.ndarray, pred: np.ndarray,
            features: np.ndarray | None) -> None:
        at = indices - self.start
        self._mark(at)
        self.total[at], self.dist[:, at], self.pred[at] = total, dist, pred
        if features is not None:
            if self.features is None:
                self.features = np.full((self.seen.size, features.shape[1]), np.nan, dtype=FEATURE_DTYPE)
            self.features[at] = features

    def fail(self, index: int, error: str) -> None:
        self._mark(np.array([index - self.start]))
        self.errors.append((int(index), error))

    @property
    def complete(self) -> bool:
        return bool(self.seen.all())


def _gpu_images(batch, loading: Loading, device: torch.device, describe):
    """A batch whose JPEGs are still encoded -> (uint8 [B, 3, H, W] on the device, kept rows, failures)."""
    from torchvision.io import ImageReadMode, decode_jpeg

    items = batch.images
    encoded = [i for i, t in enumerate(items) if t.dim() == 1]
    decoded = {}
    if encoded:
        try:
            out = decode_jpeg([items[i] for i in encoded], mode=ImageReadMode.RGB, device=device)
            decoded = dict(zip(encoded, out))
        except RuntimeError:
            for i in encoded:  # find the corrupt ones
                try:
                    decoded[i] = decode_jpeg(items[i], mode=ImageReadMode.RGB, device=device)
                except RuntimeError as e:
                    decoded[i] = e
    images, keep, failed = [], [], []
    for i, t in enumerate(items):
        value = decoded.get(i, t)
        if isinstance(value, Exception):
            where = describe(int(batch.indices[i]))
            if loading.on_error == "raise":
                raise ImageReadError(f"cannot read image {where}: GPU JPEG decode failed: {value}")
            failed.append((int(batch.indices[i]), where, f"GPU JPEG decode failed: {str(value)[:200]}"))
            continue
        value = value.to(device, non_blocking=True)
        if t.dim() == 1:
            value = resize_crop_tensor(value, loading.resize, loading.crop)
        images.append(value)
        keep.append(i)
    if images and len({tuple(x.shape) for x in images}) > 1:
        raise ValueError("GPU-decoded images differ in size; give resize/crop (CLI --resize/--crop)")
    stacked = torch.stack(images) if images else None
    return stacked, keep, failed


def run(source, job, chunks, bounds: np.ndarray, model, scoring: ScoreSettings, execution: RunSettings,
        loading: Loading, *, desc: str, show: bool) -> dict:
    """Score `chunks` (ids into `bounds`) and commit each as it completes; returns timing statistics."""
    ranges = [(int(bounds[c]), int(bounds[c + 1])) for c in chunks]
    total_images = sum(b - a for a, b in ranges)
    starts = bounds[:-1]
    num_dist = len(scoring.denoisers)
    device = execution.device
    loader = source.loader(ranges, loading.batch_size, loading.workers, device.type == "cuda")
    stats = {"images": 0, "unreadable": 0, "chunks": 0, "load_wait_s": 0.0, "write_s": 0.0}
    buffers = {}
    bar = None
    if show:
        from tqdm.auto import tqdm

        bar = tqdm(total=total_images, desc=desc, unit="img", smoothing=0.05, dynamic_ncols=True)

    def commit_if_complete(c):
        buf = buffers[c]
        if buf.complete:
            t = time.perf_counter()
            job.write_chunk(c, buf.start, buf.total, buf.dist, buf.pred, sorted(buf.errors), buf.features,
                            engine.backends)
            stats["write_s"] += time.perf_counter() - t
            stats["chunks"] += 1
            del buffers[c]

    def batches():
        it = iter(loader)
        while True:
            t = time.perf_counter()
            batch = next(it, None)
            stats["load_wait_s"] += time.perf_counter() - t
            if batch is None:
                return
            indices = batch.indices.numpy()
            failed = list(batch.failed)
            images = batch.images
            if isinstance(images, list):
                images, keep, more = _gpu_images(batch, loading, device, lambda i: source.ids(i, i + 1)[0])
                indices, failed = indices[keep], failed + more
            first = int(indices[0]) if indices.size else failed[0][0]
            c = int(np.searchsorted(starts, first, side="right")) - 1
            if c not in buffers:
                buffers[c] = ChunkBuffer(int(bounds[c]), int(bounds[c + 1]), num_dist)
            for index, _, error in failed:
                buffers[c].fail(index, error)
            stats["unreadable"] += len(failed)
            if bar is not None:
                bar.update(int(indices.size) + len(failed))
            if images is None:
                images = torch.zeros((0, 3, 1, 1), dtype=torch.uint8)
            yield (c, indices), images

    def where(meta, rows):
        positions = meta[1][rows[:4]].tolist()
        return "positions " + ", ".join(f"{i} ({source.ids(i, i + 1)[0] or source.path})" for i in positions)

    start_wall = time.perf_counter()
    checked_labels = False
    try:
        with Engine(model, scoring, execution) as engine:
            for r in engine.results(batches(), where):
                c, indices = r.meta
                if indices.size:
                    if not checked_labels:
                        check_label_range(source.labels, engine.num_classes, f"data {source.path}", unlabelled_ok=True)
                        checked_labels = True
                    buffers[c].put(indices, r.total, r.dist, r.pred, r.features)
                    stats["images"] += int(indices.size)
                    faults.point("batch")
                commit_if_complete(c)
    finally:
        if bar is not None:
            bar.close()
    if buffers:
        c = min(buffers)
        missing = int((~buffers[c].seen).sum())
        raise RuntimeError(f"chunk {c} (positions {bounds[c]}..{bounds[c + 1] - 1}) is missing {missing} samples;"
                           " the dataset changed while it was read")
    stats.update(denoise_s=engine.denoise_s, model_s=engine.model_s, wall_s=time.perf_counter() - start_wall,
                 backends=engine.backends, features=engine.capture.where if engine.capture is not None else None,
                 warnings=engine.notes)
    return stats
