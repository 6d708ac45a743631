"""OUT/report.json of a clean run (every stage's seconds and results, the settings, the versions) and,
where the poison mask is known, the detection figures, histogram.png and roc.png."""
from __future__ import annotations

import math
import os
import platform
import socket
import time

import numpy as np
import torch

from .. import metrics, plots
from ..sanitize.job import atomic_write_bytes, dumps
from ..scores import Scores

STAGES = ("stats", "train", "score", "evaluate", "retrain", "evaluate-clean")


def _finite(value):
    return None if isinstance(value, float) and not math.isfinite(value) else value


def detection(out: str, mask: np.ndarray, status: np.ndarray) -> tuple[dict, Scores]:
    """The cut against the poison mask, and the AUROC of the UltraClean score."""
    score = os.path.join(out, "score")
    total = np.load(os.path.join(score, "scores.npy"))
    readable = status != 2
    index = np.flatnonzero(readable)
    scores = Scores(total[index], {}, np.load(os.path.join(score, "predictions.npy"))[index],
                    np.load(os.path.join(score, "labels.npy"))[index], index)
    removed = status == 1
    tp, fp = int((removed & mask).sum()), int((removed & ~mask).sum())
    return {"poisoned": int(mask.sum()), "poisoned_removed": tp, "clean_removed": fp,
            "tpr": tp / max(1, int(mask.sum())), "fpr": fp / max(1, int((~mask).sum())),
            "precision": tp / max(1, tp + fp), "auroc_score": _finite(metrics.auroc(total[index], mask[index]))}, scores


def write(run, *, source, cfg, stats, num_classes, results, seconds, reused, mask, sidecar, test, world, device,
          started) -> dict:
    from .. import __version__

    status = np.load(run.path(os.path.join("score", "status.npy")))
    counts = results["score"]["counts"]
    before, after = results["evaluate"], results.get("evaluate-clean", {})
    files = {"manifest": [run.path("manifest.csv"), run.path("manifest.json")], "suspect": run.path("suspect.pt"),
             "score": run.path("score")}
    if cfg.retrain:
        files["clean"] = run.path("clean.pt")
    doc = {
        "versions": {"ucfast": __version__, "torch": torch.__version__, "numpy": np.__version__,
                     "python": platform.python_version()},
        "data": {"kind": source.kind, "path": source.path, "samples": len(source), "fingerprint": source.fingerprint,
                 "num_classes": num_classes, "test": test, "sidecar": sidecar.path if sidecar else None,
                 "attack": sidecar.attack if sidecar else None},
        "settings": cfg.record(),
        "resolved": {"mean": stats["mean"], "std": stats["std"], "stats_estimated": stats["estimated"],
                     "lr": cfg.resolved_lr(), "weight_decay": cfg.resolved_weight_decay(),
                     "augment": cfg.resolved_augment()},
        "run": {"world_size": world, "device": str(device), "host": socket.gethostname(),
                "started": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(started)),
                "wall_s_this_run": time.time() - started},
        "stages": {name: {"seconds": seconds[name], "reused_from_earlier_run": reused[name],
                          **({"result": results[name]} if name in results else {})}
                   for name in STAGES if name in seconds},
        "results": {"samples": counts["samples"], "removed": counts["removed"], "kept": counts["kept"],
                    "unreadable": counts["unreadable"], "ca_before": before.get("ca"), "asr_before": before.get("asr"),
                    "ca_after": after.get("ca"), "asr_after": after.get("asr")},
        "selection": results["score"]["selection"],
        "files": files,
    }
    if mask is not None:
        doc["detection"], scores = detection(run.out, mask, status)
        files["histogram"] = plots.score_histogram(scores, mask, run.path("histogram.png"))
        files["roc"] = plots.roc_curve(scores, mask, run.path("roc.png"))
    doc["seconds"] = dict({name: s["seconds"] for name, s in doc["stages"].items()},
                          total=sum(s["seconds"] for s in doc["stages"].values()))
    atomic_write_bytes(run.path("report.json"), dumps(doc).encode())
    return doc
