"""`ucfast.clean`: the whole UltraClean loop on a data set on disk, stage by stage, each resumable.

    stats      the normalisation mean/std (estimated from the training data unless given)
    train      the suspect model on all of DATA                      -> OUT/suspect.pt
    score      `ucfast.sanitize` with it: the scores, the detector's cut, the manifests -> OUT/score/
    evaluate   CA on the held-out set, ASR on its triggered copy where the data carries a known trigger
    retrain    (retrain=True) a fresh model on what was kept          -> OUT/clean.pt
    evaluate-clean   the same for the retrained model
    report     OUT/report.json, OUT/manifest.csv|json, and with a poison mask histogram.png and roc.png

Every stage ends by writing its marker (OUT/.clean/<stage>.json); a rerun skips finished stages, the
training stages resume from their last checkpoint and the scoring from its committed chunks. Under
torchrun every rank trains (DDP) and scores (sanitize's shares); rank 0 evaluates and reports.
"""
from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass

import numpy as np
import torch

from .. import data as builtin_data
from ..sanitize import distributed
from ..sanitize import sanitize as run_sanitize
from ..sanitize.model import load_model
from ..sanitize.sources import open_source
from ..selection import check as check_selection
from ..selection import check_labels
from . import evaluate, report, trainer
from .loader import TrainItems
from .poisoned import find_sidecar, read_sidecar
from .settings import CleanSettings
from .state import RunDir
from .transforms import Augment

BUILTIN = tuple(n for n in builtin_data.NAMES if n not in ("npz", "folder"))
STATS_SAMPLES = 2000


@dataclass
class CleanResult:
    """What a clean run wrote: `out` holds the files; `report` is report.json."""

    out: str
    report: dict

    @property
    def removed(self) -> np.ndarray:
        """Dataset positions of the removed samples, ascending."""
        return np.flatnonzero(np.load(os.path.join(self.out, "score", "status.npy")) == 1)

    def __repr__(self) -> str:
        r = self.report["results"]
        return f"CleanResult(out={self.out!r}, samples={r['samples']}, removed={r['removed']})"


def _device(device) -> torch.device:
    if device is None:
        return torch.device("cuda", distributed.local_rank()) if torch.cuda.is_available() else torch.device("cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} was asked for, but CUDA is not available here")
    return torch.device("cuda", distributed.local_rank()) if dev.type == "cuda" and dev.index is None else dev


def _builtin(name: str, run: RunDir) -> tuple[str, str]:
    """A built-in data set written once as OUT/data/<name>-{train,test}.npz; (train, test) paths."""
    folder = run.path("data")
    paths = tuple(os.path.join(folder, f"{name}-{split}.npz") for split in ("train", "test"))
    if not all(os.path.exists(p) for p in paths):
        os.makedirs(folder, exist_ok=True)
        for split, path in zip(("train", "test"), paths):
            tmp = f"{path}.tmp-{os.getpid()}"
            builtin_data.save_npz(builtin_data.build(name, None, split), tmp)
            os.replace(tmp, path)
    return paths


def _estimate_stats(source, seed: int, workers: int) -> tuple[list, list]:
    """Per-channel mean/std (0..1 units) of up to STATS_SAMPLES seeded positions, as scoring reads them."""
    n = len(source)
    picks = np.arange(n) if n <= STATS_SAMPLES else np.sort(np.random.default_rng(seed).choice(n, STATS_SAMPLES, False))
    items = TrainItems(source, picks, Augment("none", None, seed))
    total = torch.zeros(3, dtype=torch.float64)
    total_sq = torch.zeros(3, dtype=torch.float64)
    count = 0
    for batch in torch.utils.data.DataLoader(items, batch_size=64, num_workers=workers, collate_fn=items.collate):
        x = batch.images.to(torch.float64) / 255.0
        total += x.sum((0, 2, 3))
        total_sq += (x * x).sum((0, 2, 3))
        count += x.shape[0] * x.shape[2] * x.shape[3]
    if count == 0:
        raise ValueError("cannot estimate mean/std: none of the sampled training images is readable")
    mean = total / count
    std = (total_sq / count - mean * mean).clamp_min(1e-12).sqrt()
    return [float(v) for v in mean], [float(v) for v in std]


def clean(data, *, out, settings: CleanSettings | None = None, **options) -> CleanResult:
    """Train a suspect model on `data`, score every sample with the streaming engine (`ucfast.sanitize`),
    cut with its default (method auto), write the manifest, optionally retrain on what was kept, and
    report CA (and ASR where the data carries a known trigger).

    data: an ImageFolder tree, tar shards, an .npz, or a built-in set's name (synthetic, fashion-mnist,
    cifar10, cifar100). The configuration is one `CleanSettings`, whose fields can also be given as
    keyword options. A rerun with the same arguments continues where an interrupted one stopped.
    """
    cfg = CleanSettings.from_options(settings, options).checked()
    dev = _device(cfg.device)
    workers = cfg.workers
    if workers is None:
        workers = min(8, max(0, (os.cpu_count() or 1) // int(os.environ.get("LOCAL_WORLD_SIZE", "1")) - 1))
    run = RunDir(out)
    started = time.time()
    ctx = distributed.setup(dev)
    try:
        trainer.batches(cfg, ctx.world)

        def claim():
            run.create()
            run.lock()
            run.clean_temporaries()

        distributed.on_rank0(ctx, claim)
        test = cfg.test
        if isinstance(data, str) and data.lower() in BUILTIN and not os.path.exists(data):
            data, builtin_test = distributed.on_rank0(ctx, lambda: _builtin(data.lower(), run))
            test = test or builtin_test
        sidecar_path = cfg.sidecar or find_sidecar(data)
        sidecar = read_sidecar(sidecar_path) if sidecar_path else None
        test = test or (sidecar.test if sidecar else None)
        reading = dict(format=cfg.format, resize=cfg.resize, crop=cfg.crop, on_error=cfg.on_error)
        source = distributed.rank0_first(ctx, lambda: open_source(data, **reading))
        labels = source.labels
        check_labels(check_selection(ratio=cfg.ratio, threshold=cfg.threshold, method=cfg.method), labels)
        if labels.size and labels.min() < 0:
            raise ValueError(f"data: {int((labels < 0).sum())} of {labels.size} samples have no label; training needs"
                             " every sample labelled")
        augment = cfg.resolved_augment()
        train_source = source if augment != "resized-crop-flip" else distributed.rank0_first(
            ctx, lambda: open_source(data, format=cfg.format, on_error=cfg.on_error))
        num_classes = cfg.num_classes or int(labels.max()) + 1
        mask = sidecar.mask(source) if sidecar else None
        spec = {"data": {"kind": source.kind, "samples": len(source), "fingerprint": source.fingerprint},
                "settings": cfg.record(deterministic=True), "test": test,
                "sidecar": sidecar.path if sidecar else None}
        spec_sha = distributed.on_rank0(ctx, lambda: run.check_or_write(spec))
        seconds, reused = {}, {}

        def stage(name: str, fn, *, rank0_only: bool = False):
            done = distributed.on_rank0(ctx, lambda: run.marker(name))
            if done is not None:
                seconds[name], reused[name] = done["seconds"], True
                return done["result"]
            t = time.perf_counter()
            result = distributed.on_rank0(ctx, fn) if rank0_only else distributed.everywhere(ctx, fn)
            record = {"seconds": time.perf_counter() - t, "result": result}
            distributed.on_rank0(ctx, lambda: run.mark(name, record))
            seconds[name], reused[name] = record["seconds"], False
            return result

        if cfg.mean is not None and cfg.std is not None:
            stats = {"mean": list(cfg.mean), "std": list(cfg.std), "estimated": False}
        else:
            stats = stage("stats", lambda: dict(zip(("mean", "std"), _estimate_stats(source, cfg.seed, workers)),
                                                estimated=True), rank0_only=True)
            stats = {"mean": list(cfg.mean or stats["mean"]), "std": list(cfg.std or stats["std"]), "estimated": True}
        mean, std = stats["mean"], stats["std"]

        def train(name: str, weights: str, positions: np.ndarray, epochs: int):
            job = trainer.TrainStage(name, run.state_path(f"{name}-state.pt"), run.path(weights), positions, epochs,
                                     f"{spec_sha}:{name}:world{ctx.world}")
            return stage(name, lambda: trainer.run(job, train_source, cfg, ctx, dev, num_classes=num_classes,
                                                   mean=mean, std=std, workers=workers))

        results = {"train": train("train", "suspect.pt", np.arange(len(source)), cfg.epochs)}

        def score():
            done = run_sanitize(
                data, out=run.path("score"), arch=cfg.arch, checkpoint=run.path("suspect.pt"),
                num_classes=num_classes, mean=tuple(mean), std=tuple(std), denoisers=cfg.denoisers, ratio=cfg.ratio,
                threshold=cfg.threshold, method=cfg.method, reference=cfg.reference, batch_size=cfg.score_batch_size,
                chunk_size=cfg.chunk_size, workers=workers, device=cfg.device, precision=cfg.precision,
                channels_last=cfg.channels_last, compile=cfg.compile, progress=cfg.progress, **reading)
            if ctx.rank != 0:
                return None
            for name in ("manifest.csv", "manifest.json"):
                shutil.copyfile(run.path(os.path.join("score", name)), run.path(f"{name}.tmp-{os.getpid()}"))
                os.replace(run.path(f"{name}.tmp-{os.getpid()}"), run.path(name))
            return {"counts": done.report["counts"], "selection": done.report["selection"],
                    "images_per_s": done.run["images_per_s"]}

        scored = stage("score", score)  # every rank scores its share; rank 0 merges and holds the result
        results["score"] = distributed.on_rank0(ctx, lambda: scored)

        bf16 = cfg.precision == "bf16" or (cfg.precision == "auto" and dev.type == "cuda")

        def assess(weights: str, desc: str):
            def fn():
                if test is None and sidecar is None:
                    return {"ca": None, "asr": None}
                net, _ = load_model(cfg.arch, run.path(weights), num_classes=num_classes)
                net = net.to(dev, memory_format=torch.channels_last if dev.type == "cuda" else torch.contiguous_format)
                kw = dict(mean=mean, std=std, device=dev, batch_size=cfg.score_batch_size, workers=workers,
                          precision_bf16=bf16, progress=cfg.progress)
                out = {"ca": None, "asr": None}
                if test is not None:
                    held_out = open_source(test, **dict(reading, format=None))
                    preds = evaluate.predict(net, held_out, desc=f"{desc}: clean accuracy", **kw)
                    out["ca"] = evaluate.clean_accuracy(preds, held_out.labels)
                if sidecar is not None and sidecar.triggered is not None:
                    triggered = open_source(sidecar.triggered, **dict(reading, format=None))
                    preds = evaluate.predict(net, triggered, desc=f"{desc}: attack success rate", **kw)
                    out["asr"] = evaluate.attack_success_rate(preds, sidecar.intended_of(triggered))
                return out
            return fn

        results["evaluate"] = stage("evaluate", assess("suspect.pt", "suspect model"), rank0_only=True)
        if cfg.retrain:
            status = distributed.on_rank0(ctx, lambda: np.load(run.path(os.path.join("score", "status.npy"))))
            kept = np.flatnonzero(status == 0)
            results["retrain"] = train("retrain", "clean.pt", kept, cfg.retrain_epochs or cfg.epochs)
            results["evaluate-clean"] = stage("evaluate-clean", assess("clean.pt", "retrained model"), rank0_only=True)

        def write_report():
            return report.write(run, source=source, cfg=cfg, stats=stats, num_classes=num_classes, results=results,
                                seconds=seconds, reused=reused, mask=mask, sidecar=sidecar, test=test,
                                world=ctx.world, device=dev, started=started)

        return CleanResult(run.out, distributed.on_rank0(ctx, write_report))
    finally:
        run.unlock()
        distributed.teardown(ctx)
