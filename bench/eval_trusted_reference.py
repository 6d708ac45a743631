"""What a small trusted clean set (`ucfast.select(scores, reference=...)`) changes, on the matrix's cached scores.

    python bench/eval_trusted_reference.py --share 0.01 --draws 3            # every cell and seed in the cache
    python bench/eval_trusted_reference.py --cells wanet-t5,tact-t8 --out /tmp/reference

Reads the `score` stage of bench/eval_attacks.py (bench/cache/matrix/CELL_seedS: the scores of
every training sample of the cell's model, and which ones were poisoned). Per cached run and draw:
`share` of the samples, drawn at random from the clean ones (neither poison nor cover), become the
reference and leave the inspected scores; the rest is ranked and cut by ucfast's default
(`ucfast.select(scores)`) and by the default given that reference. Reported: AUROC, cut TPR and
the clean share removed of both, the classes where the reference decided the suspect group, and
how many cuts the reference made better or worse (cut TPR minus the clean share removed).
The reference samples are training samples the model saw, not a held-out set; no retraining, so no
ASR after.
"""
from __future__ import annotations

import argparse
import glob
import os
import subprocess
import sys
import time

import numpy as np

import ucfast
from eval_attacks import _judge
from matrix_report import write


def _cli(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cache", default="bench/cache/matrix", help="bench/eval_attacks.py's --cache")
    p.add_argument("--cells", default="", help="comma-separated cell names (default: every cached one)")
    p.add_argument("--share", type=float, default=0.01, help="share of the samples given as the reference")
    p.add_argument("--draws", type=int, default=3, help="random references per cached run")
    p.add_argument("--out", default="bench/results/trusted_reference", help="report path without extension")
    return p.parse_args(argv)


def _subset(scores: ucfast.Scores, keep: np.ndarray) -> ucfast.Scores:
    return ucfast.Scores(scores.total[keep], {k: v[keep] for k, v in scores.components.items()}, scores.pred[keep],
                         scores.label[keep], scores.index[keep], dict(scores.settings), scores.features[keep])


def run(folder: str, share: float, draw: int) -> dict:
    scores = ucfast.Scores.load(os.path.join(folder, "scores.npz"))
    truth = np.load(os.path.join(folder, "truth.npz"))
    poison, cover = truth["poison"][scores.index], truth["cover"][scores.index]
    rng = np.random.default_rng(draw)
    chosen = np.zeros(len(scores), dtype=bool)
    chosen[rng.choice(np.flatnonzero(~poison & ~cover), int(round(share * len(scores))), replace=False)] = True
    inspected, reference = _subset(scores, ~chosen), _subset(scores, chosen)
    poison, cover = poison[~chosen], cover[~chosen]
    plain = ucfast.select(inspected)
    given = ucfast.select(inspected, reference=reference)
    decided = ucfast.detect.detect(inspected, reference=reference).classes
    return {"draw": draw, "reference": int(chosen.sum()),
            "default": _judge(plain.values, plain.removed_mask, poison, cover),
            "reference_given": _judge(given.values, given.removed_mask, poison, cover),
            "decided_classes": [row["class"] for row in decided if row.get("by_reference")],
            "flagged": sorted((given.assumptions or {}).get("flagged_classes", {}))}


def _row(cell_runs) -> str:
    def both(key, field, pick, pct):
        values = [r[key][field] for r in cell_runs if r[key][field] is not None]
        if not values:
            return "n/a"
        worst, mean = pick(values), float(np.mean(values))
        return f"{100 * worst:.1f}% ({100 * mean:.1f}%)" if pct else f"{worst:.3f} ({mean:.3f})"
    cells = []
    for key in ("default", "reference_given"):
        cells += [both(key, "auroc", min, False), both(key, "cut_tpr", min, False),
                  both(key, "clean_removed_share", max, True)]
    def youden(judged):
        return (judged["cut_tpr"] or 0.0) - judged["clean_removed_share"]
    better = sum(youden(r["reference_given"]) > youden(r["default"]) + 1e-9 for r in cell_runs)
    worse = sum(youden(r["reference_given"]) < youden(r["default"]) - 1e-9 for r in cell_runs)
    return " | ".join(cells) + f" | {better} / {worse} of {len(cell_runs)}"


def markdown(report: dict) -> str:
    lines = ["# A trusted clean reference on the attack matrix's cached scores", "",
             f"Command: `{report['command']}`  ",
             f"Runtime: {report['seconds_total']:.0f} s, commit {report['commit']}. Reference: {report['share']:.1%} of"
             f" each run's samples, drawn from its clean ones and left out of the inspected scores; {report['draws']}"
             " draws per run. Worst over seeds and draws (mean).", "",
             "| cell | seeds | AUROC | cut TPR (lowest) | clean removed (most) | AUROC, reference | cut TPR, reference"
             " | clean removed, reference | cuts better / worse |", "|" + " --- |" * 9]
    for cell, runs in report["cells"].items():
        seeds = sorted({r["seed"] for r in runs})
        lines.append(f"| {cell} | {','.join(map(str, seeds))} | {_row(runs)} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    args = _cli(argv)
    if not 0 < args.share < 0.5:
        raise SystemExit(f"--share must be in (0, 0.5), got {args.share}")
    if args.draws < 1:
        raise SystemExit(f"--draws must be at least 1, got {args.draws}")
    wanted = {c for c in args.cells.split(",") if c}
    folders = sorted(f for f in glob.glob(os.path.join(args.cache, "*_seed*"))
                     if os.path.exists(os.path.join(f, "scores.npz")))
    start = time.perf_counter()
    cells: dict = {}
    for folder in folders:
        cell, seed = os.path.basename(folder).rsplit("_seed", 1)
        if wanted and cell not in wanted:
            continue
        for draw in range(args.draws):
            cells.setdefault(cell, []).append({"seed": int(seed), **run(folder, args.share, draw)})
        print(f"{cell} seed {seed}: done", file=sys.stderr)
    if wanted - set(cells):
        raise SystemExit(f"no cached scores for cells {sorted(wanted - set(cells))} under {args.cache}")
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    report = {"command": "python " + " ".join([os.path.relpath(sys.argv[0])] + sys.argv[1:]), "share": args.share,
              "draws": args.draws, "cells": cells, "seconds_total": time.perf_counter() - start, "commit": commit}
    write(report, args.out, markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
