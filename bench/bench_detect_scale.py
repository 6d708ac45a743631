"""The default detector at ImageNet size: 1.28M samples x 2048 float16 features x 1000 classes.

    python bench/bench_detect_scale.py                       # the full shape (5.2 GB of features on disk)
    python bench/bench_detect_scale.py --n 128000 --out /tmp/scale   # a tenth, to try it

Generates the features straight into a float16 .npy memory map (what `ucfast sanitize` writes as
features.npy): 1000 class centres, variation along 64 directions every class shares, isotropic
noise, and in one class a planted group of 10% of its samples displaced along a direction of its own
(so the run also says whether the group is found). Then, in a fresh process, `ucfast.select` on
Scores holding the memory map, as the sanitize job runs it; reported: wall time of the selection,
the child's peak resident memory (ru_maxrss), the flagged classes and the planted group's recall.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

import numpy as np

CHUNK = 32768


def generate(path: str, n: int, dim: int, classes: int, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    label = np.sort(rng.integers(0, classes, n))
    centres = rng.normal(0, 1.0, (classes, dim)).astype(np.float32)
    style = rng.normal(0, 1.0, (64, dim)).astype(np.float32) / 8.0
    target = int(classes // 2)
    rows = np.flatnonzero(label == target)
    planted = rows[:max(1, rows.size // 10)]
    trigger = rng.normal(0, 1.0, dim).astype(np.float32)
    trigger *= 6.0 / np.linalg.norm(trigger)
    feats = np.lib.format.open_memmap(path, mode="w+", dtype=np.float16, shape=(n, dim))
    for start in range(0, n, CHUNK):
        stop = min(start + CHUNK, n)
        block = centres[label[start:stop]] + rng.standard_normal((stop - start, 64), dtype=np.float32) @ style
        block += 0.3 * rng.standard_normal((stop - start, dim), dtype=np.float32)
        hit = planted[(planted >= start) & (planted < stop)] - start
        block[hit] += trigger
        feats[start:stop] = block
    feats.flush()
    np.save(path + ".label.npy", label)
    np.save(path + ".planted.npy", planted)
    return {"target": target, "planted": int(planted.size)}


def child(path: str) -> None:
    import ucfast
    feats = np.load(path, mmap_mode="r")
    label = np.load(path + ".label.npy")
    planted = np.load(path + ".planted.npy")
    n = label.size
    dist = np.random.default_rng(0).lognormal(-3, 1, (n, 2)).astype(np.float32)
    scores = ucfast.Scores(dist.sum(1), {"median": dist[:, 0], "nlm": dist[:, 1]}, label.copy(), label,
                           np.arange(n), features=feats)
    clock = time.perf_counter()
    sel = ucfast.select(scores)
    seconds = time.perf_counter() - clock
    removed = sel.removed_mask
    print(json.dumps({"select_seconds": round(seconds, 1), "removed": int(removed.sum()),
                      "planted_recall": float(removed[planted].mean()),
                      "flagged": sorted(sel.assumptions["flagged_classes"])}))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=1_281_167)
    p.add_argument("--dim", type=int, default=2048)
    p.add_argument("--classes", type=int, default=1000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--child", help=argparse.SUPPRESS)
    p.add_argument("--out", default="bench/results/detect_scale")
    args = p.parse_args(argv)
    if args.child:
        child(args.child)
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "features.npy")
        clock = time.perf_counter()
        truth = generate(path, args.n, args.dim, args.classes, args.seed)
        generated = time.perf_counter() - clock
        run = subprocess.run([sys.executable, __file__, "--child", path], capture_output=True, text=True, check=True)
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 2 ** 20  # KiB -> GiB
    result = {"command": "python bench/bench_detect_scale.py " + " ".join(argv if argv is not None else sys.argv[1:]),
              "n": args.n, "dim": args.dim, "classes": args.classes, "features_gib": args.n * args.dim * 2 / 2 ** 30,
              "generate_seconds": round(generated, 1), "peak_rss_gib": round(peak, 2), **truth,
              **json.loads(run.stdout.strip().splitlines()[-1]), "cpus": os.cpu_count()}
    os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
    with open(args.out + ".json", "w") as f:
        json.dump(result, f, indent=2)
    with open(args.out + ".md", "w") as f:
        f.write(f"# Default detector at scale\n\nCommand: `{result['command']}`\n\n"
                f"{args.n} samples x {args.dim} float16 features ({result['features_gib']:.1f} GiB, memory-mapped)"
                f" x {args.classes} classes on {result['cpus']} CPU cores: `ucfast.select` took"
                f" {result['select_seconds']} s at a peak of {result['peak_rss_gib']} GiB resident; flagged"
                f" {result['flagged']}, planted group of {result['planted']} in class {result['target']}:"
                f" recall {result['planted_recall']:.3f}, {result['removed']} removed.\n")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
