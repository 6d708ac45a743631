"""The attack matrix: poison -> train -> score -> detect (ucfast, the paper, the peers) -> retrain.

    python bench/eval_attacks.py --seeds 1,2,3 --threads 1                 # every cell, every stage
    python bench/eval_attacks.py --cells tact,adap-blend --seeds 1 --stage score   # train + score only

Four stages, each cached under --cache (one folder per cell and seed), so a stage can be rerun
without the ones before it:
    score    build the cell's data and attack (bench/matrix_cells.py), train its model (the
             small CNN unless the cell names another: bench/matrix_models.py), measure CA and
             ASR, score every sample with `ucfast.score(loader, model)` (the user's default path:
             penultimate features kept), save the scores and the ground truth
    detect   rank the same scores with ucfast's default (`ucfast.select(scores)`, no options), the
             paper's score (ultraclean) and the peers (Spectral Signatures, Activation Clustering,
             SCAn from ucfast.peers, on the same features); AUROC and each one's own cut
    retrain  train a fresh model on what ucfast's default cut kept; CA and ASR after (skipped when
             the cached retrain removed the same samples)
    oracle   train a fresh model on the data without its poison (cover samples kept: they carry
             their true labels): the ASR a perfect cut would leave, the floor of the retrain's ASR
The report (OUT.md, OUT.json) gives every cell's worst seed and mean, and the issue's bars. Cover
samples (trigger, true label) count as neither poison nor clean: they are left out of AUROC and of
the clean share removed.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import subprocess
import sys
import time

import numpy as np
import torch

import ucfast
from matrix_cells import CELLS, UNSEEN, build_data
from matrix_models import build as build_model
from matrix_report import markdown, summarise, write
from ucfast import attacks, data, metrics, peers, train

N_TRAIN, N_TEST, EPOCHS = 3000, 1000, 6


def _cli(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cells", default=",".join(c for c in CELLS if c not in UNSEEN),
                   help="comma-separated cell names (bench/matrix_cells.py; the UNSEEN cells only when named)")
    p.add_argument("--seeds", default="1,2,3", help="comma-separated seeds")
    p.add_argument("--stage", choices=("score", "detect", "retrain", "oracle", "all"), default="all")
    p.add_argument("--min-asr", type=float, default=0.5, help="cells whose backdoor is weaker are named, not judged")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    p.add_argument("--cache", default="bench/cache/matrix", help="folder of the per-cell, per-seed stage outputs")
    p.add_argument("--out", default="bench/results/matrix", help="report path without extension")
    return p.parse_args(argv)


def _setup(cell: str, seed: int):
    spec = CELLS[cell]
    name = spec.get("dataset", "fashion-mnist")
    train_set = build_data(name, "train", spec.get("n_train", N_TRAIN), seed)
    test_set = build_data(name, "test", N_TEST, seed)
    mean, std = data.stats(train_set)
    if spec["attack"] is None:
        return train_set, test_set, mean, std, None
    poisoned = attacks.build(spec["attack"], train_set, target=spec.get("target", 0), rate=spec["rate"], seed=seed,
                             **spec.get("options", {}))
    return train_set, test_set, mean, std, poisoned.materialise()


def _fit(cell, dataset, classes, mean, std, seed, indices=None):
    torch.manual_seed(seed)
    spec = CELLS[cell]
    return train.fit(build_model(spec.get("model", "cnn"), classes), dataset, epochs=spec.get("epochs", EPOCHS),
                     mean=mean, std=std, seed=seed, progress=False, indices=indices)


def stage_score(cell: str, seed: int, folder: str) -> dict:
    clock = time.perf_counter()
    train_set, test_set, mean, std, poisoned = _setup(cell, seed)
    dataset = train_set if poisoned is None else poisoned
    classes = data.num_classes_of(train_set)
    model = _fit(cell, dataset, classes, mean, std, seed)
    meta = {"cell": cell, "seed": seed, "samples": len(dataset), "classes": classes,
            "ca_before": train.accuracy(model, test_set, mean=mean, std=std),
            "asr_before": None if poisoned is None else train.attack_success_rate(model, poisoned, test_set,
                                                                                  mean=mean, std=std),
            "attack": None if poisoned is None else poisoned.summary()}
    scores = ucfast.score(data.batches(dataset, 256), model, mean=mean, std=std, progress=False)
    n = len(dataset)
    poison = np.zeros(n, bool) if poisoned is None else poisoned.poison_mask
    cover = getattr(poisoned, "cover_mask", np.zeros(n, bool))
    os.makedirs(folder, exist_ok=True)
    scores.save(os.path.join(folder, "scores.npz"))
    np.savez(os.path.join(folder, "truth.npz"), poison=poison, cover=cover)
    meta["seconds_score"] = round(time.perf_counter() - clock, 1)
    with open(os.path.join(folder, "score.json"), "w") as f:
        json.dump(meta, f, indent=2)
    return meta


def _judge(values, removed, poison, cover) -> dict:
    clean = ~poison & ~cover
    ranked = ~cover
    out = {"removed": int(removed.sum()), "clean_removed_share": float(removed[clean].mean()) if clean.any() else 0.0,
           "cut_tpr": float(removed[poison].mean()) if poison.any() else None}
    out["auroc"] = metrics.auroc(values[ranked], poison[ranked]) if poison.any() else None
    return out


def stage_detect(folder: str) -> dict:
    scores = ucfast.Scores.load(os.path.join(folder, "scores.npz"))
    truth = np.load(os.path.join(folder, "truth.npz"))
    poison, cover = truth["poison"][scores.index], truth["cover"][scores.index]
    out = {}
    clock = time.perf_counter()
    sel = ucfast.select(scores)
    flagged = (sel.assumptions or {}).get("flagged_classes", {})
    out["ucfast"] = {**_judge(sel.values, sel.removed_mask, poison, cover), "seconds": time.perf_counter() - clock,
                     "flagged": sorted(flagged), "named_by": _named_by(flagged, sel.removed_mask, scores.label, poison),
                     "removed_sha256": removal_digest(sel.removed)}
    paper = ucfast.select(scores, ratio=0.1)
    out["paper"] = _judge(paper.values, paper.removed_mask, poison, cover)
    for name, peer in peers.PEERS.items():
        found = peer(scores)
        out[name] = _judge(found.values, found.removed, poison, cover)
    with open(os.path.join(folder, "detect.json"), "w") as f:
        json.dump(out, f, indent=2)
    return out


def _named_by(flagged: dict, removed: np.ndarray, label: np.ndarray, poison: np.ndarray) -> dict:
    """Per flagged class: the rule that named its suspect group and the poisoned share of what the
    cut removed from it (None when it removed nothing)."""
    out = {}
    for c, row in flagged.items():
        cut = removed & (label == c)
        out[str(c)] = {"rule": row.get("named_by"), "poison_share": float(poison[cut].mean()) if cut.any() else None}
    return out


def removal_digest(removed: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(removed, dtype=np.int64).tobytes()).hexdigest()


def stage_retrain(cell: str, seed: int, folder: str) -> dict:
    """Retrain on what the default cut kept; a retrain.json of the same removals is kept as it is."""
    sel = ucfast.select(ucfast.Scores.load(os.path.join(folder, "scores.npz")))
    done = _load(folder, "retrain")
    if done and done.get("removed_sha256") == removal_digest(sel.removed):
        return done
    train_set, test_set, mean, std, poisoned = _setup(cell, seed)
    dataset = train_set if poisoned is None else poisoned
    model = _fit(cell, dataset, data.num_classes_of(train_set), mean, std, seed, indices=sel.kept)
    out = {"removed": int(sel.removed.size), "removed_sha256": removal_digest(sel.removed),
           "ca_after": train.accuracy(model, test_set, mean=mean, std=std),
           "asr_after": None if poisoned is None else train.attack_success_rate(model, poisoned, test_set,
                                                                                mean=mean, std=std)}
    with open(os.path.join(folder, "retrain.json"), "w") as f:
        json.dump(out, f, indent=2)
    return out


def stage_oracle(cell: str, seed: int, folder: str) -> dict | None:
    """Retrain on the data without its poison (once: the poison does not change between runs)."""
    done = _load(folder, "oracle")
    if done:
        return done
    train_set, test_set, mean, std, poisoned = _setup(cell, seed)
    if poisoned is None:
        return None
    kept = np.flatnonzero(~poisoned.poison_mask)
    model = _fit(cell, poisoned, data.num_classes_of(train_set), mean, std, seed, indices=kept)
    out = {"removed": int(poisoned.poison_mask.sum()), "ca_after": train.accuracy(model, test_set, mean=mean, std=std),
           "asr_after": train.attack_success_rate(model, poisoned, test_set, mean=mean, std=std)}
    with open(os.path.join(folder, "oracle.json"), "w") as f:
        json.dump(out, f, indent=2)
    return out


def _stale(run: dict) -> bool:
    """Whether the run's retrain was made on another cut than its detect stage's (a detector changed since)."""
    cut = ((run["detect"] or {}).get("ucfast") or {}).get("removed_sha256")
    return bool(run["retrain"]) and cut is not None and run["retrain"].get("removed_sha256") != cut


def _load(folder: str, stage: str):
    path = os.path.join(folder, f"{stage}.json")
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f)


def main(argv=None) -> int:
    args = _cli(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    cells = [c for c in args.cells.split(",") if c]
    unknown = sorted(set(cells) - set(CELLS))
    if unknown:
        raise SystemExit(f"unknown cells {unknown}; known: {list(CELLS)}")
    seeds = [int(s) for s in args.seeds.split(",") if s]
    start = time.perf_counter()
    runs = []
    for cell in cells:
        for seed in seeds:
            folder = os.path.join(args.cache, f"{cell}_seed{seed}")
            if args.stage in ("score", "all"):
                stage_score(cell, seed, folder)
            if not os.path.exists(os.path.join(folder, "scores.npz")):
                print(f"{cell} seed {seed}: not scored ({folder} holds no scores.npz)", file=sys.stderr)
                continue
            if args.stage in ("detect", "all"):
                stage_detect(folder)
            if args.stage in ("retrain", "all"):
                stage_retrain(cell, seed, folder)
            if args.stage in ("oracle", "all"):
                stage_oracle(cell, seed, folder)
            run = {"cell": cell, "seed": seed,
                   **{s: _load(folder, s) for s in ("score", "detect", "retrain", "oracle")}}
            if _stale(run):
                print(f"{cell} seed {seed}: its retrain.json retrained another cut than the detect stage's; not"
                      f" reported (run --stage retrain)", file=sys.stderr)
                run["retrain"] = None
            runs.append(run)
            d = run["detect"] or {}
            print(f"{cell} seed {seed}: asr {(run['score'] or {}).get('asr_before')} | ucfast"
                  f" {d.get('ucfast')} | after {run['retrain']}", file=sys.stderr, flush=True)
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                                check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        commit = "unknown"
    report = {"command": "python bench/eval_attacks.py " + " ".join(argv if argv is not None else sys.argv[1:]),
              "config": {"n_train": N_TRAIN, "n_test": N_TEST, "epochs": EPOCHS, "min_asr": args.min_asr,
                         "seeds": seeds, "cells": {c: CELLS[c] for c in cells}},
              "runs": runs, "summary": summarise(runs, args.min_asr), "seconds_total": time.perf_counter() - start,
              "commit": commit,
              "machine": {"platform": platform.platform(), "cpu": f"{os.cpu_count()} CPU cores",
                          "torch": torch.__version__, "torch_threads": torch.get_num_threads(),
                          "ucfast": ucfast.__version__}}
    write(report, args.out, markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
