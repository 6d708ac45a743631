"""False alarms of the default detector on clean generated data: 10, 100 and 1000 classes, 20 seeds.

    python bench/bench_false_alarms.py          # writes bench/results/false_alarms.{md,json}

Every class is clean but none is simple: per class a centre, variation along 8 directions all
classes share (pose, brightness) scaled per class by a factor drawn from 0.7-1.4, two natural
sub-types along one of the shared directions whose separation is drawn per class from 0-4 standard
deviations (from one mode to two well apart), and sizes drawn from 0.8-1.2 x the mean. The
detector's false-alarm rate per data set is set to ALPHA (0.05): the bar is no class flagged in at
least 19 of 20 seeds; the report gives, per class count, the seeds with any class flagged and the
share of samples the automatic cut removed.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np

import ucfast
from ucfast.detect import ALPHA

DIM, SHARED = 32, 8


def clean_scores(classes: int, per_class: int, seed: int) -> ucfast.Scores:
    rng = np.random.default_rng([seed, classes])
    sizes = np.round(per_class * rng.uniform(0.8, 1.2, classes)).astype(int)
    label = np.repeat(np.arange(classes), sizes)
    shared = np.linalg.qr(rng.normal(0, 1, (DIM, SHARED)))[0].T  # [SHARED, DIM]
    centres = rng.normal(0, 4, (classes, DIM))
    scale = rng.uniform(0.7, 1.4, classes)
    subtype = shared[rng.integers(0, SHARED, classes)] * rng.uniform(0, 4, classes)[:, None] / 2
    side = np.where(rng.random(label.size) < rng.uniform(0.2, 0.8, classes)[label], 1.0, -1.0)
    feats = (centres[label] + side[:, None] * subtype[label]
             + scale[label, None] * (rng.normal(0, 1, (label.size, SHARED)) @ shared * 2.0
                                     + rng.normal(0, 1, (label.size, DIM))))
    dist = np.exp(rng.normal(-3, 1, (label.size, 2))).astype(np.float32)
    return ucfast.Scores(dist.sum(1), {"median": dist[:, 0], "nlm": dist[:, 1]}, label.copy(), label,
                         np.arange(label.size), features=feats.astype(np.float32))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, default=20)
    p.add_argument("--out", default="bench/results/false_alarms")
    args = p.parse_args(argv)
    rows = []
    for classes, per_class in ((10, 300), (100, 100), (1000, 50)):
        clock = time.perf_counter()
        flagged, removed = [], []
        for seed in range(args.seeds):
            sel = ucfast.select(clean_scores(classes, per_class, seed))
            flagged.append(len(sel.assumptions["flagged_classes"]))
            removed.append(sel.assumptions["removed_share"])
        rows.append({"classes": classes, "per_class": per_class, "seeds": args.seeds,
                     "seeds_with_a_flag": int(np.count_nonzero(flagged)), "flags": flagged,
                     "most_removed_share": float(max(removed)), "seconds": round(time.perf_counter() - clock, 1)})
        print(rows[-1], file=sys.stderr, flush=True)
    report = {"command": "python bench/bench_false_alarms.py " + " ".join(argv if argv is not None else sys.argv[1:]),
              "alpha": ALPHA, "rows": rows}
    os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
    with open(args.out + ".json", "w") as f:
        json.dump(report, f, indent=2)
    lines = ["# False alarms on clean generated data", "", f"Command: `{report['command']}`; alpha {ALPHA}.", "",
             "| classes | samples per class | seeds with any class flagged | most removed (share) | seconds |",
             "| --- | --- | --- | --- | --- |"]
    lines += [f"| {r['classes']} | {r['per_class']} | {r['seeds_with_a_flag']} of {r['seeds']} |"
              f" {100 * r['most_removed_share']:.2f}% | {r['seconds']} |" for r in rows]
    with open(args.out + ".md", "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
