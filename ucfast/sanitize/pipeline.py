"""`ucfast.sanitize`: score a whole dataset with a suspect model and write what to remove."""
from __future__ import annotations

import dataclasses
import hashlib
import importlib
import os
import platform
import socket
import time
from dataclasses import dataclass

import numpy as np
import torch

from ..engine import RunSettings, check_model
from ..features import FeatureCapture
from ..selection import check_labels
from . import distributed, engine, report
from .job import JobDir, Staging, dumps
from .model import load_model, module_info
from .select import Trusted, check_reference_labels, read_reference, select_readable
from .settings import SanitizeSettings, default_chunk_size
from .sources import open_source


@dataclass
class SanitizeResult:
    """What a sanitize run wrote: `out` holds the files; report and run are report.json and run.json."""

    out: str
    report: dict
    run: dict

    def _load(self, name: str) -> np.ndarray:
        return np.load(os.path.join(self.out, name), mmap_mode="r")

    @property
    def scores(self) -> np.ndarray:
        """[N] float32 in dataset order (NaN: unreadable), memory-mapped."""
        return self._load("scores.npy")

    @property
    def status(self) -> np.ndarray:
        """[N] uint8: 0 kept, 1 removed, 2 unreadable, memory-mapped."""
        return self._load("status.npy")

    @property
    def removed(self) -> np.ndarray:
        """Dataset positions of the removed samples, ascending."""
        return np.flatnonzero(self.status == 1)

    def __repr__(self) -> str:
        c = self.report["counts"]
        return (f"SanitizeResult(out={self.out!r}, samples={c['samples']}, removed={c['removed']},"
                f" unreadable={c['unreadable']})")


def _device(device) -> torch.device:
    if device is None or device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", distributed.local_rank())
        return torch.device("cpu")
    device = torch.device(device)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device {str(device)!r} was asked for, but CUDA is not available here")
        if device.index is None:
            device = torch.device("cuda", distributed.local_rank())
    return device


def _device_kind(device: torch.device) -> str:
    return f"cuda:{torch.cuda.get_device_name(device)}" if device.type == "cuda" else device.type


def sanitize(data: str | os.PathLike | list, *, out: str | os.PathLike, settings: SanitizeSettings | None = None,
             model: torch.nn.Module | None = None, **options) -> SanitizeResult:
    """Score every sample of `data` with the suspect model, select what to remove, write `out`.

    data: an ImageFolder tree, WebDataset-style tar shards (folder, glob, {a..b} range or list) or an
    .npz. The configuration is one `SanitizeSettings` (`settings`), whose fields can also be given as
    keyword options (they replace the fields of `settings`, or of the defaults): the model (`arch` +
    `checkpoint`, unless `model` is a module), the data, the score, the selection (as `ucfast.select`:
    with neither ratio nor threshold, its default, method="auto", the automatic cut) and how it runs.
    Everything is checked before the data is opened, and what the data and model allow (labels of
    `classes`, file names, the model's form) when they open, before the first batch. The run commits
    chunks of `chunk_size` positions to OUT/.ucfast; the same call after a crash resumes and gives
    byte-identical files. Under torchrun every rank scores its share.
    """
    given = SanitizeSettings.from_options(settings, options)
    defaulted = [name for name in ("mean", "std") if getattr(given, name) is None]
    cfg = given.checked()
    scoring, rule = cfg.scoring(), cfg.rule()
    if model is not None and (cfg.checkpoint is not None or cfg.arch is not None):
        raise ValueError("give either model= (a module) or arch=/checkpoint=, not both")
    if model is None and cfg.checkpoint is None:
        raise ValueError("no model: give checkpoint= (with arch= for a state dict), or model=")
    dev = _device(cfg.device)
    features = False if cfg.cuda_graphs and cfg.features == "auto" else cfg.features
    execution = RunSettings.checked(dev, precision=cfg.precision, channels_last=cfg.channels_last,
                                    compile=cfg.compile, cuda_graphs=cfg.cuda_graphs, features=features,
                                    profile=cfg.profile)
    if cfg.gpu_decode:
        if dev.type != "cuda":
            raise ValueError("gpu_decode needs a CUDA device")
        try:
            importlib.import_module("torchvision.io")
        except Exception as e:
            raise ValueError(f"gpu_decode needs torchvision.io, which does not import here ({e})") from None
    workers = cfg.workers
    if workers is None:
        per_node = int(os.environ.get("LOCAL_WORLD_SIZE", "1"))
        workers = min(8, max(0, (os.cpu_count() or 1) // per_node - 1))
    loading = engine.Loading(cfg.batch_size, workers, cfg.gpu_decode, cfg.resize, cfg.crop, cfg.on_error)

    started = time.time()
    ctx = distributed.setup(dev)
    job = JobDir(out)
    try:
        distributed.on_rank0(ctx, lambda: job.create(force=cfg.force))
        source = distributed.rank0_first(ctx, lambda: open_source(
            data, format=cfg.format, resize=cfg.resize, crop=cfg.crop, on_error=cfg.on_error,
            decode=not cfg.gpu_decode, index_cache=os.path.join(job.state, "shards-index.npz"), verify=cfg.verify))
        check_labels(rule, source.labels)
        reference = None
        if cfg.reference is not None:
            reference = distributed.rank0_first(ctx, lambda: open_source(
                cfg.reference, resize=cfg.resize, crop=cfg.crop, on_error=cfg.on_error, decode=not cfg.gpu_decode,
                index_cache=os.path.join(job.state, "reference-shards-index.npz"), verify=cfg.verify))
            check_reference_labels(reference.labels, source.labels, reference.path)
        if cfg.chunk_size is None:
            cfg = dataclasses.replace(cfg, chunk_size=default_chunk_size(len(source), cfg.batch_size))
        if model is not None:
            check_model(model)
            minfo = distributed.everywhere(ctx, lambda: module_info(model))
            net = model
        else:
            net, minfo = distributed.everywhere(ctx, lambda: load_model(cfg.arch, cfg.checkpoint,
                                                                        num_classes=cfg.num_classes,
                                                                        batch=cfg.batch_size * (1 + len(scoring.denoisers))))
        views = distributed.gather(ctx, (source.fingerprint, len(source), minfo["sha256"],
                                         reference and reference.fingerprint))
        if len(set(views)) > 1:
            raise distributed.RankFailed(f"the ranks see different data or models (fingerprint, samples, model sha256,"
                                         f" reference fingerprint per rank): {views}")
        n = len(source)
        bounds = engine.chunk_bounds(source.breaks, n, cfg.chunk_size)
        num_chunks = len(bounds) - 1
        capture = FeatureCapture.resolve(net, features)
        fingerprint = cfg.fingerprint(precision=execution.precision, channels_last=execution.channels_last,
                                      device=_device_kind(dev), features=capture.where if capture else None)
        spec = {"dataset": {"kind": source.kind, "samples": n, "fingerprint": source.fingerprint,
                            "verified": cfg.verify},
                "model": {k: minfo.get(k) for k in ("sha256", "format", "arch", "num_classes")},
                "scoring": fingerprint}

        if reference is not None and capture is None:
            raise ValueError("reference is compared with the data in penultimate features, and this model's were"
                             " not found (features='auto' needs a torch.nn.Linear head); name the module with"
                             " features=")
        resumed, pending, mine = _claim(ctx, job, spec, num_chunks, lock=True)
        show = cfg.progress and ctx.rank == 0
        trusted = None
        if reference is not None:
            trusted = _score_reference(ctx, job, reference, spec, net, dev, scoring, execution, loading, cfg, show)
        desc = "ucfast sanitize" + (f" rank {ctx.rank}/{ctx.world}" if ctx.active else "")
        stats = _score(ctx, source, job, mine, bounds, net, dev, scoring, execution, loading, desc, show)
        all_stats = distributed.gather(ctx, dict(stats, rank=ctx.rank, chunks_assigned=len(mine)))
        recorded = dict(cfg.record(deterministic=True), resolved=fingerprint, defaulted=defaulted)

        def finish():
            return _finish(job, source, bounds, scoring.denoisers, minfo, recorded, rule, trusted, dict(
                started=started, resumed=resumed, pending=len(pending), num_chunks=num_chunks, ranks=all_stats,
                world=ctx.world, device=str(dev), workers=workers, settings=cfg.record()))

        result = distributed.on_rank0(ctx, finish)
        return result
    finally:
        job.unlock()
        distributed.teardown(ctx)


def _claim(ctx, job, spec: dict, num_chunks: int, lock: bool):
    """Own (`lock`) or make the job folder, check its job.json against `spec` (or write it), and share
    its chunks not yet committed among the ranks: (resuming, pending chunks, this rank's)."""
    def claim():
        if lock:
            job.lock()
        else:
            job.create()
        resumed = job.check_or_write(spec)
        job.clean_temporaries()
        return resumed, np.flatnonzero(~job.done(num_chunks))

    resumed, pending = distributed.on_rank0(ctx, claim)
    return resumed, pending, distributed.share(pending, ctx)


def _score(ctx, source, job, chunks, bounds, net, dev, scoring, execution, loading, desc, show) -> dict:
    """Score this rank's `chunks` of `source` into `job` (deterministic cuDNN); its timing statistics."""
    saved_cudnn = (torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic)
    torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic = False, True
    try:
        def score_mine():
            moved = net.to(dev) if isinstance(net, torch.nn.Module) else net
            return engine.run(source, job, chunks, bounds, moved, scoring, execution, loading, desc=desc, show=show)

        return distributed.everywhere(ctx, score_mine)
    finally:
        torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic = saved_cudnn


def _score_reference(ctx, job, reference, spec, net, dev, scoring, execution, loading, cfg, show) -> Trusted:
    """Score the trusted clean set like the data, into its own resumable job inside OUT's state folder
    (named by what it scores, so a changed reference scores anew and the data's chunks are kept)."""
    ref_spec = dict(spec, dataset={"kind": reference.kind, "samples": len(reference),
                                   "fingerprint": reference.fingerprint, "verified": cfg.verify})
    name = "reference-" + hashlib.sha256(dumps(ref_spec).encode()).hexdigest()[:16]
    ref_job = JobDir(os.path.join(job.state, name))
    bounds = engine.chunk_bounds(reference.breaks, len(reference), default_chunk_size(len(reference), cfg.batch_size))
    _, _, mine = _claim(ctx, ref_job, ref_spec, len(bounds) - 1, lock=False)
    desc = "ucfast sanitize: reference" + (f" rank {ctx.rank}/{ctx.world}" if ctx.active else "")
    _score(ctx, reference, ref_job, mine, bounds, net, dev, scoring, execution, loading, desc, show)
    return Trusted(reference, ref_job, bounds)


def _finish(job, source, bounds, denoisers, minfo, settings, rule, trusted, run) -> SanitizeResult:
    """Merge the chunks, select, and write every output: staged first, renamed into place together."""
    missing = np.flatnonzero(~job.done(len(bounds) - 1))
    if missing.size:
        raise FileNotFoundError(
            f"{missing.size} of {len(bounds) - 1} chunk files are missing from {job.chunks} after every rank"
            f" finished (first: chunk {missing[0]}); all ranks must write to the same output folder (a shared"
            " filesystem when the run spans several nodes)")
    stage = Staging(job.out)
    try:
        result = _stage_outputs(stage, job, source, bounds, denoisers, minfo, settings, rule, trusted, run)
        stage.commit(first="report.json")
    finally:
        stage.discard()
    return result


def _nothing_scored(source, errors, state: str) -> ValueError:
    first = report.unreadable_list(source, errors[:3])
    shown = "; ".join(f"{e['id'] or e['index']}: {e['error']}" for e in first)
    return ValueError(f"none of the {len(source)} samples of {source.path} could be read, so nothing was scored"
                      f" and no outputs were written (first: {shown}); delete {state} after fixing the files to"
                      " score them again")


def _stage_outputs(stage, job, source, bounds, denoisers, minfo, settings, rule, trusted, run) -> SanitizeResult:
    from .. import __version__  # ucfast/__init__.py imports this module before it sets __version__

    out = job.out
    t = time.perf_counter()
    errors, staged, used = report.merge(job, bounds, denoisers, source.labels, stage)
    settings = dict(settings, resolved=dict(settings["resolved"], backends=used))
    n = len(source)
    if len(errors) == n:
        raise _nothing_scored(source, errors, job.state)
    total = np.load(staged["scores.npy"], mmap_mode="r")
    pred = np.load(staged["predictions.npy"], mmap_mode="r")
    components = {d: np.load(staged[report.component_file(d)], mmap_mode="r") for d in denoisers}
    features = np.load(staged[report.FEATURES], mmap_mode="r") if report.FEATURES in staged else None
    ref = None if trusted is None else read_reference(trusted, denoisers)
    outcome = select_readable(rule, total, source.labels, pred, components, features, reference=ref)
    report.save_status(stage, outcome)
    report.manifest_csv(stage, source, total, pred, source.labels, outcome.status)
    report.manifest_json(stage, source, outcome.status)
    stats = report.score_stats(total)
    component_stats = {d: report.score_stats(v) for d, v in components.items()}
    counts = outcome.counts()
    hist = report.histogram(stage, total, outcome, stats,
                            f"{n} samples, {counts['removed']} removed ({outcome.selection.method})")
    doc = {
        "versions": {"ucfast": __version__, "torch": torch.__version__, "numpy": np.__version__,
                     "python": platform.python_version()},
        "dataset": dict({"kind": source.kind, "path": source.path, "samples": n, "fingerprint": source.fingerprint,
                         "id": source.id_kind}, **source.info),
        "model": minfo,
        "settings": settings,
        "selection": report.selection_section(outcome),
        "reference": None if trusted is None else trusted.describe(ref),
        "counts": {"samples": n, "scored": n - counts["unreadable"], **counts},
        "scores": {"total": stats, **{f"component_{d}": s for d, s in component_stats.items()}},
        "unreadable": report.unreadable_list(source, errors),
        "unreadable_listed": min(len(errors), report.LISTED_ERRORS),
        "histogram": hist,
        "files": {"byte_identical": report.byte_identical_files(denoisers, features is not None),
                  "run_dependent": ["run.json"]},
    }
    report.write_json(stage, "report.json", doc)
    merge_s = time.perf_counter() - t
    ranks = run["ranks"]
    scored_now = sum(r["images"] for r in ranks)
    wall = time.time() - run["started"]
    slowest = max((r["wall_s"] for r in ranks), default=0.0)
    run_doc = {
        "host": socket.gethostname(), "device": run["device"], "world_size": run["world"], "workers": run["workers"],
        "resumed": run["resumed"], "chunks": run["num_chunks"], "chunks_scored_now": run["pending"],
        "chunks_reused": run["num_chunks"] - run["pending"], "images_scored_now": scored_now,
        "images_per_s": scored_now / slowest if slowest > 0 else None,
        "wall_s": wall, "merge_and_report_s": merge_s,
        "timings_s": {k: sum(r[k] for r in ranks) for k in ("load_wait_s", "denoise_s", "model_s", "write_s")},
        "warnings": sorted({w for r in ranks for w in r.get("warnings", [])}),
        "ranks": ranks,
        "settings": run["settings"],
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(run["started"])),
    }
    report.write_json(stage, "run.json", run_doc)
    return SanitizeResult(out, doc, run_doc)
