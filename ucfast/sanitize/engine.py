"""The streaming scoring engine: chunks of positions -> DataLoader -> device -> `ucfast.scoring.score_batch`
-> committed chunk files.

Memory is O(batch) for the pipeline plus O(chunk) for the chunks being filled; scores leave the
process chunk by chunk. uint8 pixels go to the device (pinned memory, non-blocking copies) and are
normalised there by the variants op. On CUDA the model runs in channels_last under bf16 autocast,
optionally compiled and/or replayed from CUDA graphs, and JPEGs can be decoded on the GPU. The
results of a batch are copied back one batch later, so the device never waits for the host.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch

from ..data.folder import ImageReadError, resize_crop_tensor
from ..scoring import score_batch

PRECISIONS = ("auto", "fp32", "bf16")
MAX_GRAPHS = 4


@dataclass
class Settings:
    denoisers: tuple
    mean: tuple
    std: tuple
    space: str
    distance: str
    amplify: float
    batch_size: int
    device: torch.device
    precision: str  # fp32 | bf16 (resolved)
    channels_last: bool
    compile: bool
    cuda_graphs: bool
    gpu_decode: bool
    resize: int | None
    crop: int | None
    on_error: str
    backend: str
    workers: int
    progress: bool
    profile: bool


def chunk_bounds(breaks: np.ndarray, n: int, chunk_size: int) -> np.ndarray:
    """[C + 1] positions: chunks of `chunk_size` that restart at every break (shard start)."""
    edges = [np.arange(a, b, chunk_size, dtype=np.int64) for a, b in zip(breaks[:-1], breaks[1:]) if b > a]
    return np.concatenate(edges + [np.array([n], dtype=np.int64)])


class Forward:
    """The model call used inside score_batch: autocast, channels_last, compile, CUDA graphs."""

    def __init__(self, model, settings: Settings):
        self.device = settings.device
        self.autocast = settings.precision == "bf16"
        self.graphs_on = settings.cuda_graphs
        if settings.channels_last and isinstance(model, torch.nn.Module):
            model = model.to(memory_format=torch.channels_last)
        self.fn = torch.compile(model) if settings.compile else model
        self.graphs = {}
        self.seconds = 0.0
        self.sync = settings.profile and self.device.type == "cuda"

    def _autocast(self, cache: bool = True):
        return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.autocast, cache_enabled=cache)

    def _graph(self, x: torch.Tensor):
        key = (tuple(x.shape), x.dtype, x.stride())
        entry = self.graphs.get(key)
        if entry is None:
            if len(self.graphs) >= MAX_GRAPHS:
                return None
            static_in = x.clone()
            side = torch.cuda.Stream()
            side.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(side), self._autocast(cache=False):
                for _ in range(3):
                    self.fn(static_in)
            torch.cuda.current_stream().wait_stream(side)
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph), self._autocast(cache=False):
                static_out = self.fn(static_in)
            entry = self.graphs[key] = (graph, static_in, static_out)
        graph, static_in, static_out = entry
        static_in.copy_(x)
        graph.replay()
        return static_out

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        start = time.perf_counter()
        out = self._graph(x) if self.graphs_on else None
        if out is None:
            with self._autocast():
                out = self.fn(x)
        if self.sync:
            torch.cuda.synchronize(self.device)
        self.seconds += time.perf_counter() - start
        return out


class ChunkBuffer:
    """Scores of one chunk while its batches arrive."""

    def __init__(self, start: int, stop: int, num_dist: int):
        n = stop - start
        self.start, self.stop = start, stop
        self.total = np.full(n, np.nan, dtype=np.float32)
        self.dist = np.full((num_dist, n), np.nan, dtype=np.float32)
        self.pred = np.full(n, -1, dtype=np.int64)
        self.seen = np.zeros(n, dtype=bool)
        self.errors = []

    def _mark(self, at: np.ndarray) -> None:
        if at.size and (at.min() < 0 or at.max() >= self.seen.size or self.seen[at].any()):
            raise RuntimeError(f"the loader yielded positions outside chunk {self.start}..{self.stop - 1} or twice")
        self.seen[at] = True

    def put(self, indices: np.ndarray, total: np.ndarray, dist: np.ndarray, pred: np.ndarray) -> None:
        at = indices - self.start
        self._mark(at)
        self.total[at], self.dist[:, at], self.pred[at] = total, dist, pred

    def fail(self, index: int, error: str) -> None:
        self._mark(np.array([index - self.start]))
        self.errors.append((int(index), error))

    @property
    def complete(self) -> bool:
        return bool(self.seen.all())


def _gpu_images(batch, settings: Settings, describe):
    """A batch whose JPEGs are still encoded -> (uint8 [B, 3, H, W] on the device, kept rows, failures)."""
    from torchvision.io import ImageReadMode, decode_jpeg

    items, device = batch.images, settings.device
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
            if settings.on_error == "raise":
                raise ImageReadError(f"cannot read image {where}: GPU JPEG decode failed: {value}")
            failed.append((int(batch.indices[i]), where, f"GPU JPEG decode failed: {str(value)[:200]}"))
            continue
        value = value.to(device, non_blocking=True)
        if t.dim() == 1:
            value = resize_crop_tensor(value, settings.resize, settings.crop)
        images.append(value)
        keep.append(i)
    if images and len({tuple(x.shape) for x in images}) > 1:
        raise ValueError("GPU-decoded images differ in size; give resize/crop (CLI --resize/--crop)")
    stacked = torch.stack(images) if images else None
    return stacked, keep, failed


def run(source, job, chunks, bounds: np.ndarray, model, settings: Settings, *, desc: str, show: bool) -> dict:
    """Score `chunks` (ids into `bounds`) and commit each as it completes; returns timing statistics."""
    forward = Forward(model, settings)
    dtype = _dtype(model)
    ranges = [(int(bounds[c]), int(bounds[c + 1])) for c in chunks]
    total_images = sum(b - a for a, b in ranges)
    starts = bounds[:-1]
    num_dist = len(settings.denoisers)
    loader = source.loader(ranges, settings.batch_size, settings.workers, settings.device.type == "cuda")
    stats = {"images": 0, "unreadable": 0, "chunks": 0, "load_wait_s": 0.0, "denoise_s": 0.0, "model_s": 0.0,
             "write_s": 0.0}
    buffers, lagging = {}, None
    bar = None
    if settings.progress and show:
        from tqdm.auto import tqdm

        bar = tqdm(total=total_images, desc=desc, unit="img", smoothing=0.05, dynamic_ncols=True)

    def commit_if_complete(c):
        buf = buffers[c]
        if buf.complete:
            t = time.perf_counter()
            job.write_chunk(c, buf.start, buf.total, buf.dist, buf.pred, sorted(buf.errors))
            stats["write_s"] += time.perf_counter() - t
            stats["chunks"] += 1
            del buffers[c]

    def collect(entry):
        c, indices, total, dist, pred = entry
        buffers[c].put(indices, total.float().cpu().numpy(), dist.float().cpu().numpy(), pred.cpu().numpy())
        commit_if_complete(c)

    start_wall = time.perf_counter()
    it = iter(loader)
    try:
        with torch.inference_mode():
            while True:
                t = time.perf_counter()
                batch = next(it, None)
                stats["load_wait_s"] += time.perf_counter() - t
                if batch is None:
                    break
                indices = batch.indices.numpy()
                failed = list(batch.failed)
                images = batch.images
                if isinstance(images, list):
                    images, keep, more = _gpu_images(batch, settings, lambda i: source.ids(i, i + 1)[0])
                    indices, failed = indices[keep], failed + more
                elif images.shape[0]:
                    images = images.to(settings.device, non_blocking=True)
                first = int(indices[0]) if indices.size else failed[0][0]
                c = int(np.searchsorted(starts, first, side="right")) - 1
                if c not in buffers:
                    buffers[c] = ChunkBuffer(int(bounds[c]), int(bounds[c + 1]), num_dist)
                for index, _, error in failed:
                    buffers[c].fail(index, error)
                stats["unreadable"] += len(failed)
                if indices.size:
                    t, model_before = time.perf_counter(), forward.seconds
                    total, dist, pred = score_batch(forward, images, settings.denoisers, settings.mean, settings.std,
                                                    space=settings.space, distance=settings.distance,
                                                    amplify=settings.amplify, dtype=dtype,
                                                    channels_last=settings.channels_last, backend=settings.backend)
                    if forward.sync:
                        torch.cuda.synchronize(settings.device)
                    stats["denoise_s"] += time.perf_counter() - t - (forward.seconds - model_before)
                    stats["images"] += int(indices.size)
                    if lagging is not None:
                        collect(lagging)
                    lagging = (c, indices, total, dist, pred)
                else:
                    commit_if_complete(c)
                if bar is not None:
                    bar.update(int(indices.size) + len(failed))
            if lagging is not None:
                collect(lagging)
    finally:
        if bar is not None:
            bar.close()
    if buffers:
        c = min(buffers)
        missing = int((~buffers[c].seen).sum())
        raise RuntimeError(f"chunk {c} (positions {bounds[c]}..{bounds[c + 1] - 1}) is missing {missing} samples;"
                           " the dataset changed while it was read")
    stats["model_s"] = forward.seconds
    stats["wall_s"] = time.perf_counter() - start_wall
    return stats


def _dtype(model) -> torch.dtype:
    if isinstance(model, torch.nn.Module):
        for p in model.parameters():
            if p.dtype.is_floating_point:
                return p.dtype
    return torch.float32
