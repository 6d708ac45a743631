"""The output files of a sanitize job, built by rank 0 from the committed chunks.

Every output is staged (`job.Staging`: written to a temporary, fsync'ed) and all are renamed into
place together once all are written, report.json first: a full disk or a kill while they are
built leaves the previous outputs (or none) and no temporaries that a rerun does not remove.

Byte-identical between an uninterrupted run, a resumed one and a distributed one (same data,
model, settings, software and device kind): every file in BYTE_IDENTICAL. run.json holds what
depends on the run (timings, throughput, world size, how many chunks were reused).
"""
from __future__ import annotations

import csv
import json
import math
import os

import numpy as np

from . import faults
from .job import Staging, dumps, fsync_file, named, remove_quietly
from .select import KEPT, REMOVED, UNREADABLE, Outcome

BLOCK = 1 << 16
STATUS_NAMES = {KEPT: "kept", REMOVED: "removed", UNREADABLE: "unreadable"}
LISTED_ERRORS = 1000
BINS = 100


def component_file(name: str) -> str:
    return f"scores_{name}.npy"


FEATURES = "features.npy"  # [N, D] float16, NaN rows for unreadable samples; only when features were kept


def byte_identical_files(denoisers, features: bool) -> list[str]:
    return (["scores.npy"] + [component_file(d) for d in denoisers] + ([FEATURES] if features else [])
            + ["predictions.npy", "labels.npy", "status.npy", "manifest.csv", "manifest.json", "report.json",
               "histogram.png"])


def _open_memmap(path: str, dtype, n: int, *rest: int):
    """A new .npy file memory-mapped for writing, its blocks allocated up front: a full disk fails here,
    naming the file, rather than as SIGBUS on a page written later."""
    try:
        array = np.lib.format.open_memmap(path, mode="w+", dtype=dtype, shape=(n, *rest))
        fd = os.open(path, os.O_RDWR)
        try:
            os.posix_fallocate(fd, 0, os.path.getsize(path))
        finally:
            os.close(fd)
    except OSError as e:
        remove_quietly(path)
        raise named(e, path) from None
    return array


def _flush(tmp: str, array) -> None:
    try:
        array.flush()
        del array
        fsync_file(tmp)
    except OSError as e:
        raise named(e, tmp) from None


def merge(job, bounds: np.ndarray, denoisers, labels: np.ndarray, stage: Staging) -> tuple[list, dict, dict]:
    """Stage scores.npy, scores_<denoiser>.npy, predictions.npy, labels.npy and, where the chunks hold
    features, features.npy from the chunk files (memory-mapped while written); returns [(index, error)]
    of the unreadable samples, {output name: staged path} and {op: the backend(s) the chunks ran on}."""
    n = int(bounds[-1])
    names = {"total": "scores.npy", "pred": "predictions.npy"}
    names.update({f"dist{i}": component_file(d) for i, d in enumerate(denoisers)})
    tmp = {k: stage.path(v) for k, v in names.items()}
    arrays = {}
    for k, p in tmp.items():
        arrays[k] = _open_memmap(p, np.int64 if k == "pred" else np.float32, n)
    errors, used = [], {}
    for c in range(len(bounds) - 1):
        a, b = int(bounds[c]), int(bounds[c + 1])
        data = job.read_chunk(c, a, b)
        arrays["total"][a:b] = data["total"]
        arrays["pred"][a:b] = data["pred"]
        for i in range(len(denoisers)):
            arrays[f"dist{i}"][a:b] = data["dist"][i]
        if data["features"] is not None:
            if "features" not in arrays:
                names["features"] = FEATURES
                tmp["features"] = stage.path(FEATURES)
                arrays["features"] = _open_memmap(tmp["features"], data["features"].dtype, n,
                                                  data["features"].shape[1])
                arrays["features"][:] = np.nan
            arrays["features"][a:b] = data["features"]
        errors.extend((int(i), str(e)) for i, e in data["errors"])
        for op, name in data["backends"].items():
            used.setdefault(op, set()).add(name)
    for key in list(arrays):
        _flush(tmp[key], arrays.pop(key))
        faults.point("merge")
    with stage.writer("labels.npy") as f:
        np.save(f, np.asarray(labels, dtype=np.int64))
    return errors, {names[k]: p for k, p in tmp.items()}, {op: ", ".join(sorted(v)) for op, v in sorted(used.items())}


def save_status(stage: Staging, outcome: Outcome) -> None:
    with stage.writer("status.npy") as f:
        np.save(f, outcome.status)


def selection_section(outcome: Outcome) -> dict:
    """report.json's "selection": the rule that ran (`ucfast.select`'s arguments, resolved), its cutoff,
    and for the automatic cut what it assumed and found (`Selection.assumptions`)."""
    rule = outcome.rule
    return {"method": outcome.selection.method, "algorithm": rule.method, "ranked": rule.ranked,
            "ratio": rule.ratio, "threshold": rule.threshold, "per_class": rule.per_class,
            "classes": None if rule.classes is None else list(rule.classes),
            "cutoff": outcome.cutoff if math.isfinite(outcome.cutoff) else None,
            "assumptions": outcome.selection.assumptions}


def _score_text(values: np.ndarray) -> list[str]:
    return ["" if v != v else f"{v:.9g}" for v in values.tolist()]


def manifest_csv(stage: Staging, source, total, pred, labels, status) -> None:
    """index,id,label,prediction,score,status for every sample, in dataset order."""
    n = len(source)
    with stage.writer("manifest.csv", "w") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["index", "id", "label", "prediction", "score", "status"])
        for a in range(0, n, BLOCK):
            b = min(a + BLOCK, n)
            names = [STATUS_NAMES[s] for s in np.asarray(status[a:b]).tolist()]
            w.writerows(zip(range(a, b), source.ids(a, b), np.asarray(labels[a:b]).tolist(),
                            np.asarray(pred[a:b]).tolist(), _score_text(np.asarray(total[a:b])), names))


def manifest_json(stage: Staging, source, status) -> None:
    """{"id": "path" | "index", "removed": [...], "kept": [...], "unreadable": [...]}: file paths for
    folder datasets, dataset positions otherwise; streamed, so N need not fit in a Python list."""
    n = len(source)
    by_path = source.kind == "folder"
    with stage.writer("manifest.json", "w") as f:
        f.write('{\n  "id": "%s",\n  "samples": %d' % ("path" if by_path else "index", n))
        for code in (REMOVED, KEPT, UNREADABLE):
            f.write(',\n  "%s": [' % STATUS_NAMES[code])
            first = True
            for a in range(0, n, BLOCK):
                b = min(a + BLOCK, n)
                where = (np.flatnonzero(np.asarray(status[a:b]) == code) + a).tolist()
                if not where:
                    continue
                items = ([json.dumps(source.dataset.paths[i]) for i in where] if by_path
                         else [str(i) for i in where])
                f.write(("" if first else ", ") + ", ".join(items))
                first = False
            f.write("]")
        f.write("\n}\n")


def _finite_blocks(total):
    for a in range(0, total.shape[0], BLOCK * 16):
        block = np.asarray(total[a:a + BLOCK * 16], dtype=np.float64)
        yield block[np.isfinite(block)]


def score_stats(total) -> dict:
    count, acc, lo, hi = 0, 0.0, np.inf, -np.inf
    for block in _finite_blocks(total):
        if block.size:
            count, acc = count + block.size, acc + float(block.sum())
            lo, hi = min(lo, float(block.min())), max(hi, float(block.max()))
    if count == 0:
        return {"count": 0}
    finite = np.asarray(total)[np.isfinite(np.asarray(total))]
    qs = np.quantile(finite, [0.5, 0.9, 0.99, 0.999])
    return {"count": count, "min": lo, "max": hi, "mean": acc / count,
            "quantiles": {k: float(v) for k, v in zip(("0.5", "0.9", "0.99", "0.999"), qs)}}


def histogram(stage: Staging, total, outcome: Outcome, stats: dict, title: str) -> str:
    """Stage histogram.png of the scores (log counts), the cutoff marked; its name, or why it was not written."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as e:
        return f"not written: matplotlib is not importable ({e})"
    if stats["count"] == 0:
        return "not written: no sample was scored"
    lo = stats["min"]
    hi = stats["max"] if stats["max"] > lo else lo + 1.0  # one bin range even when every score is equal
    counts = np.zeros(BINS, dtype=np.int64)
    for block in _finite_blocks(total):
        counts += np.histogram(block, bins=BINS, range=(lo, hi))[0]
    edges = np.linspace(lo, hi, BINS + 1)
    fig = Figure(figsize=(7, 4), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.stairs(counts, edges, fill=True, color="tab:blue")
    ax.set_yscale("log")
    ax.set_xlabel("susceptibility score")
    ax.set_ylabel("samples")
    ax.set_title(title)
    if outcome.rule.ranked == "score" and np.isfinite(outcome.cutoff):
        removed = outcome.counts()["removed"]
        ax.axvline(outcome.cutoff, color="tab:red", linestyle="--",
                   label=f"cutoff {outcome.cutoff:.4g} ({removed} removed)")
        ax.legend()
    fig.tight_layout()
    with stage.writer("histogram.png") as f:
        fig.savefig(f, format="png", metadata={"Software": None})
    return "histogram.png"


def unreadable_list(source, errors: list) -> list:
    shown = errors[:LISTED_ERRORS]
    return [{"index": i, "id": source.ids(i, i + 1)[0] if source.kind != "npz" else None, "error": e} for i, e in shown]


def write_json(stage: Staging, name: str, obj) -> None:
    with stage.writer(name) as f:
        f.write(dumps(obj).encode())
