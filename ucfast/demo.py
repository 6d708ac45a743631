"""`ucfast demo`: poison a dataset, train on it, find the poison with UltraClean, retrain, report.

    poison -> train -> score (median + NLM variants) -> select (top `ratio`) -> retrain on the rest
           -> clean accuracy (CA) and attack success rate (ASR) before and after, detection metrics

With the defaults (Blended, Chen et al.'s noise key at alpha 0.2, on the built-in synthetic
dataset, 5000 training images, 10% poisoned, 5 epochs at batch 64) it runs on two CPU cores in a
few minutes and needs no files or network. BadNets' 3 x 3 corner pattern is the harder case for
these denoisers (the median turns it into a bright 2 x 2 block that can still trigger the model);
`--attack badnets` shows it. `run(...)` is the same from Python and returns the report it
writes to OUT/report.json.
"""
from __future__ import annotations

import json
import os
import platform
import time

import numpy as np
import torch

from . import attacks, backends, data, metrics, models, plots, train
from .scoring import score as ucfast_score
from .selection import apply, check

DEFAULTS = {
    "dataset": "synthetic", "attack": "blended", "poison_rate": 0.1, "target": 0, "ratio": 0.2, "epochs": 5,
    "model": "cnn", "device": None, "out": "ucfast-demo", "seed": 0, "n_train": 5000, "n_test": 1000,
}
REPORT_KEYS = ("ca_before", "ca_after", "asr_before", "asr_after", "auroc", "tpr", "fpr", "removed", "poisoned",
               "seconds")


def _nlm_backend(backend: str, device: torch.device) -> str:
    """Which implementation `backend` picks for NLM on `device` (what dominates the scoring time)."""
    probe = torch.zeros((1, 3, 8, 8), dtype=torch.uint8, device=device)
    try:
        return backends.resolve("nlm", backend, device, probe, 5.0, 5.0, 7, 13)[0]
    except backends.BackendUnavailable as e:
        return f"unavailable: {e}"


def _build_data(dataset: str, root, n_train, n_test, seed: int):
    sizes = {} if dataset == "folder" else {"seed": seed}
    train_set = data.build(dataset, root, "train", n=n_train if dataset != "folder" else None, **sizes)
    test_set = data.build(dataset, root, "test", n=n_test if dataset != "folder" else None, **sizes)
    return train_set, test_set


def run(*, dataset: str = DEFAULTS["dataset"], root=None, attack: str = DEFAULTS["attack"],
        poison_rate: float = DEFAULTS["poison_rate"], target: int = DEFAULTS["target"],
        ratio: float | str = DEFAULTS["ratio"], epochs: int = DEFAULTS["epochs"], model: str = DEFAULTS["model"],
        device=DEFAULTS["device"], out=DEFAULTS["out"], seed: int = DEFAULTS["seed"],
        n_train: int | None = DEFAULTS["n_train"], n_test: int | None = DEFAULTS["n_test"],
        batch_size: int = 64, lr: float = 0.05, denoisers=("median", "nlm"), backend: str = "auto",
        attack_options: dict | None = None, progress: bool = True) -> dict:
    """Run the whole demo; write report.json, scores.npz, score_histogram.png and roc.png to `out`
    and return the report (a dict with at least the keys in REPORT_KEYS).

    n_train / n_test: keep a seeded random subset of this many images (None: the whole split).
    ratio: the share of the training set removed before retraining, or "auto": the two-sided detector
    ranks and cuts with no poison rate (`select(method="auto")`; AUROC and TPR/FPR are then the
    detector's, "auroc_paper" the paper's score's, "assumptions" what the cut assumed).
    Other options as the CLI.
    """
    if isinstance(poison_rate, bool) or not isinstance(poison_rate, (int, float)) or not 0 < poison_rate < 1:
        raise ValueError(f"poison_rate must be a fraction in (0, 1) (share of the training set poisoned),"
                         f" got {poison_rate!r}")
    auto = isinstance(ratio, str) and ratio == "auto"
    rule = check(method="auto") if auto else check(ratio=ratio)
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"epochs must be a positive integer, got {epochs!r}")
    dev = torch.device(device) if device is not None else torch.device("cuda" if torch.cuda.is_available() else "cpu")
    out = os.fspath(out)
    seconds = {}
    start = clock = time.perf_counter()

    def lap(stage: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        seconds[stage] = seconds.get(stage, 0.0) + now - clock
        clock = now

    train_set, test_set = _build_data(dataset, root, n_train, n_test, seed)
    mean, std = data.stats(train_set)
    num_classes = data.num_classes_of(train_set)
    lap("data")

    poisoned = attacks.build(attack, train_set, target=target, rate=poison_rate, seed=seed,
                             **(attack_options or {})).materialise()
    lap("poison")

    common = {"epochs": epochs, "batch_size": batch_size, "lr": lr, "mean": mean, "std": std, "device": dev,
              "seed": seed, "progress": progress}
    torch.manual_seed(seed)
    suspect = train.fit(models.build(model, num_classes), poisoned, desc="train (poisoned)", **common)
    lap("train")
    ca_before = train.accuracy(suspect, test_set, mean=mean, std=std, device=dev)
    asr_before = train.attack_success_rate(suspect, poisoned, test_set, mean=mean, std=std, device=dev)
    lap("evaluate")

    scores = ucfast_score(data.batches(poisoned, 256), suspect, mean=mean, std=std, denoisers=denoisers,
                          backend=backend, progress=progress, features=auto)
    lap("score")
    selection = apply(scores, rule)
    ranking = metrics.detection(selection if auto else scores, poisoned.poison_mask)
    found = metrics.detection(selection, poisoned.poison_mask)
    lap("select")

    torch.manual_seed(seed)
    cleaned = train.fit(models.build(model, num_classes), poisoned, indices=selection.kept,
                        desc="retrain (cleaned)", **common)
    lap("retrain")
    ca_after = train.accuracy(cleaned, test_set, mean=mean, std=std, device=dev)
    asr_after = train.attack_success_rate(cleaned, poisoned, test_set, mean=mean, std=std, device=dev)
    lap("evaluate")

    os.makedirs(out, exist_ok=True)
    files = {"report": os.path.join(out, "report.json"), "scores": os.path.join(out, "scores.npz"),
             "histogram": os.path.join(out, "score_histogram.png"), "roc": os.path.join(out, "roc.png")}
    scores.save(files["scores"])
    cut = None if auto else selection.threshold  # the plots show the paper's score; the auto cut is on other values
    plots.score_histogram(scores, poisoned.poison_mask, files["histogram"], threshold=cut)
    plots.roc_curve(scores, poisoned.poison_mask, files["roc"])
    np.savetxt(os.path.join(out, "removed.txt"), selection.removed, fmt="%d")
    files["removed"] = os.path.join(out, "removed.txt")
    lap("report")
    seconds["total"] = time.perf_counter() - start

    report = {
        "ca_before": ca_before, "ca_after": ca_after, "asr_before": asr_before, "asr_after": asr_after,
        "auroc": ranking["auroc"], "auprc": ranking["auprc"], "tpr": found["tpr"], "fpr": found["fpr"],
        "precision": found["precision"], "removed": int(selection.removed.size), "poisoned": poisoned.poisoned_count,
        "poisoned_removed": found["tp"], "train_samples": len(poisoned), "test_samples": len(test_set),
        "seconds": {k: round(v, 3) for k, v in seconds.items()},
        "config": {"dataset": dataset, "root": None if root is None else os.fspath(root), "attack": poisoned.summary(),
                   "ratio": ratio, "epochs": epochs, "model": model, "device": str(dev), "seed": seed,
                   "n_train": n_train, "n_test": n_test, "batch_size": batch_size, "lr": lr,
                   "denoisers": list(scores.settings["denoisers"]), "mean": list(mean), "std": list(std)},
        "nlm_backend": _nlm_backend(backend, dev) if "nlm" in scores.settings["denoisers"] else None,
        "machine": {"platform": platform.platform(), "python": platform.python_version(), "torch": torch.__version__,
                    "cpu_threads": torch.get_num_threads()},
        "files": files,
    }
    if auto:
        report["auroc_paper"] = metrics.detection(scores, poisoned.poison_mask)["auroc"]
        report["assumptions"] = selection.assumptions
    with open(files["report"], "w") as f:
        json.dump(report, f, indent=2)
    return report


def format_table(report: dict) -> str:
    """The demo's one summary table, as text."""
    cfg = report["config"]
    att = cfg["attack"]
    pct = lambda v: "n/a" if v is None or v != v else f"{100 * v:.1f}%"  # noqa: E731
    rows = [
        ("clean accuracy (CA)", pct(report["ca_before"]), pct(report["ca_after"])),
        ("attack success rate (ASR)", pct(report["asr_before"]), pct(report["asr_after"])),
        ("AUROC of the scores", f"{report['auroc']:.4f}", ""),
        (f"TPR at ratio {cfg['ratio']}", pct(report["tpr"]), ""),
        ("FPR", pct(report["fpr"]), ""),
        ("samples removed", f"{report['removed']} of {report['train_samples']}",
         f"{report['poisoned_removed']} of {report['poisoned']} poisoned"),
    ]
    rows += [(f"seconds: {stage}", f"{value:.1f}", "") for stage, value in report["seconds"].items()]
    width = max(len(r[0]) for r in rows)
    head = (f"ucfast demo: {att['attack']} on {cfg['dataset']} ({report['train_samples']} train /"
            f" {report['test_samples']} test images), {pct(att['rate'])} poisoned -> class {att['target']},"
            f" model {cfg['model']}, {cfg['epochs']} epochs, {cfg['device']}, NLM backend {report['nlm_backend']}")
    lines = [head, f"{'':{width}}  {'before':>12}  {'after':>22}"]
    lines += [f"{name:{width}}  {a:>12}  {b:>22}" for name, a, b in rows]
    lines.append(f"outputs in {os.path.dirname(report['files']['report']) or '.'}: report.json, scores.npz,"
                 " score_histogram.png, roc.png, removed.txt")
    return "\n".join(lines)
