"""`ucfast clean` end to end on a poisoned Fashion-MNIST folder, on the CPU: CA and ASR before and after,
what was removed, and every stage's seconds; with --scaling, two processes x one thread (torchrun, gloo)
against one process x two threads (and x one thread) on the same data, and whether their outputs agree.

The data: `ucfast.clean.write_poisoned` (Fashion-MNIST at 32 x 32 RGB, PNG, BadNets at rate 0.1 ->
class 0 by default), the training set a seeded subset of --n-train images, the held-out set --n-test.
The run is the command a user types: `python -m ucfast clean WORK/data/train --arch cnn --retrain ...`.

    python bench/bench_clean.py [--seed N]           # bench/results/clean_cpu[_seedN].{md,json}
    python bench/bench_clean.py --scaling            # bench/results/clean_scaling_cpu.{md,json}
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS = os.path.join(ROOT, "bench", "results")
STAGES = ("stats", "train", "score", "evaluate", "retrain", "evaluate-clean")


def _env(threads: int) -> dict:
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), PYTHONUNBUFFERED="1")
    if os.path.exists("/sys/class/net/lo"):
        env.setdefault("GLOO_SOCKET_IFNAME", "lo")
    return env


def _commit() -> str:
    done = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    return done.stdout.strip() or "unknown"


def _machine() -> dict:
    import torch

    return {"platform": platform.platform(), "cpus": os.cpu_count(), "torch": torch.__version__,
            "load_average_at_start": os.getloadavg(), "commit": _commit()}


def _clean(cmd: list[str], threads: int, log: str) -> float:
    t = time.perf_counter()
    with open(log, "w") as f:
        done = subprocess.run(cmd, env=_env(threads), stdout=f, stderr=subprocess.STDOUT, cwd=ROOT)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed (exit {done.returncode}); see {log}")
    return time.perf_counter() - t


def _data(work: str, args) -> str:
    from ucfast.clean import write_poisoned

    train = os.path.join(work, "data", "train")
    if not os.path.exists(os.path.join(work, "data", "attack.json")):
        write_poisoned(os.path.join(work, "data"), dataset="fashion-mnist", attack=args.attack, rate=args.rate,
                       target=0, seed=args.seed, n_train=args.n_train, n_test=args.n_test)
    return train


def _pct(v) -> str:
    return "n/a" if v is None else f"{100 * v:.1f}%"


def _name(args) -> str:
    """clean_cpu for the default seed, clean_cpu_seed<N> for the others (the results of every seed kept)."""
    return "clean_cpu" if args.seed == 0 else f"clean_cpu_seed{args.seed}"


def main_run(args) -> None:
    work = args.work
    train = _data(work, args)
    out = os.path.join(work, "run")
    cmd = [sys.executable, "-m", "ucfast", "clean", train, "--out", out, "--arch", "cnn", "--epochs", str(args.epochs),
           "--retrain", "--batch-size", str(args.batch_size), "--workers", str(args.workers), "--seed", str(args.seed),
           "--no-progress"]
    machine = _machine()
    wall = _clean(cmd, args.threads, os.path.join(work, "run.log"))
    with open(os.path.join(out, "report.json")) as f:
        report = json.load(f)
    r, d = report["results"], report["detection"]
    doc = {"command": " ".join(["python", "-m", "ucfast"] + cmd[3:]).replace(work, "WORK"), "wall_s": wall,
           "threads": args.threads, "machine": machine, "n_train": args.n_train, "n_test": args.n_test,
           "attack": report["data"]["attack"], "results": r, "detection": d, "seconds": report["seconds"],
           "train_images_per_s": report["stages"]["train"]["result"]["images_per_s"],
           "bars": {"asr_before_ge_90": r["asr_before"] >= 0.9, "asr_after_le_10": r["asr_after"] <= 0.1,
                    "ca_cost_le_2_points": r["ca_before"] - r["ca_after"] <= 0.02, "within_15_min": wall <= 900}}
    with open(os.path.join(RESULTS, f"{_name(args)}.json"), "w") as f:
        json.dump(doc, f, indent=2)
    print(render(doc, args))


def render(doc: dict, args) -> str:
    """bench/results/clean_cpu.md from the run's record; returns its text."""
    r, d, machine = doc["results"], doc["detection"], doc["machine"]
    rows = [("clean accuracy (CA)", _pct(r["ca_before"]), _pct(r["ca_after"])),
            ("attack success rate (ASR)", _pct(r["asr_before"]), _pct(r["asr_after"])),
            ("removed", f"{r['removed']} of {r['samples']}", f"{d['poisoned_removed']} of {d['poisoned']} poisoned,"
                                                             f" {d['clean_removed']} clean")]
    lines = ["# `ucfast clean` on poisoned Fashion-MNIST, CPU", "",
             f"Command: `{doc['command']}` (OMP_NUM_THREADS={doc['threads']})  ",
             f"Data: `write_poisoned(dataset='fashion-mnist', attack='{args.attack}', rate={args.rate}, target=0,"
             f" seed={args.seed}, n_train={doc['n_train']}, n_test={doc['n_test']})`, 32 x 32 RGB PNG folders.  ",
             f"Machine: {machine['cpus']} CPU cores, load average {machine['load_average_at_start'][0]:.1f} at the"
             f" start (other jobs), torch {machine['torch']}, commit {machine['commit']}.  ",
             f"Wall clock: {doc['wall_s']:.0f} s; training {doc['train_images_per_s']:.0f} images/s.", "",
             "| | before | after |", "| --- | --- | --- |"]
    lines += [f"| {a} | {b} | {c} |" for a, b, c in rows]
    lines += ["", "| stage | seconds |", "| --- | --- |"]
    lines += [f"| {k} | {doc['seconds'][k]:.1f} |" for k in STAGES + ("total",) if k in doc["seconds"]]
    lines += ["", "Bars: " + ", ".join(f"{k}: {'holds' if v else 'fails'}" for k, v in doc["bars"].items()), ""]
    text = "\n".join(lines)
    with open(os.path.join(RESULTS, f"{_name(args)}.md"), "w") as f:
        f.write(text)
    return text


def main_scaling(args) -> None:
    work = args.work
    train = _data(work, args)
    common = ["--arch", "cnn", "--epochs", str(args.epochs), "--batch-size", str(args.batch_size),
              "--micro-batch", str(args.batch_size // 2), "--workers", "0", "--no-progress"]
    runs = {
        "1 process x 1 thread": ([sys.executable, "-m", "ucfast", "clean", train, "--out",
                                  os.path.join(work, "single-thread"), *common], 1),
        "1 process x 2 threads": ([sys.executable, "-m", "ucfast", "clean", train, "--out",
                                   os.path.join(work, "one"), *common], 2),
        "2 processes x 1 thread": ([sys.executable, "-m", "torch.distributed.run", "--standalone",
                                    "--nproc_per_node=2", "-m", "ucfast", "clean", train, "--out",
                                    os.path.join(work, "two"), *common], 1),
    }
    machine = _machine()
    doc = {"machine": machine, "n_train": args.n_train, "epochs": args.epochs, "runs": {}}
    for name, (cmd, threads) in runs.items():
        wall = _clean(cmd, threads, os.path.join(work, name.replace(" ", "_") + ".log"))
        out = cmd[cmd.index("--out") + 1]
        with open(os.path.join(out, "report.json")) as f:
            report = json.load(f)
        doc["runs"][name] = {"wall_s": wall, "seconds": report["seconds"],
                             "train_images_per_s": report["stages"]["train"]["result"]["images_per_s"],
                             "score_images_per_s": report["stages"]["score"]["result"]["images_per_s"],
                             "removed": report["results"]["removed"]}
    doc["identical"] = _identical(os.path.join(work, "one"), os.path.join(work, "two"))
    doc["identical_at_one_thread"] = _identical(os.path.join(work, "single-thread"), os.path.join(work, "two"))
    with open(os.path.join(RESULTS, "clean_scaling_cpu.json"), "w") as f:
        json.dump(doc, f, indent=2)
    print(render_scaling(doc, args))


def _identical(a: str, b: str) -> dict:
    """Which outputs of the two runs are byte-identical, and the largest weight difference."""
    import torch

    same = {n: open(os.path.join(a, n), "rb").read() == open(os.path.join(b, n), "rb").read()
            for n in ("manifest.json", "manifest.csv", "suspect.pt")}
    wa, wb = (torch.load(os.path.join(x, "suspect.pt"), weights_only=True) for x in (a, b))
    same["max_weight_difference"] = max(float((wa[k].double() - wb[k].double()).abs().max()) for k in wa)
    return same


def render_scaling(doc: dict, args) -> str:
    """bench/results/clean_scaling_cpu.md from the runs' record; returns its text."""
    machine, same, one = doc["machine"], doc["identical"], doc["identical_at_one_thread"]
    lines = ["# `ucfast clean` on the CPU: two processes x one thread vs one process x two threads", "",
             f"{doc['n_train']} poisoned Fashion-MNIST images (32 x 32), small CNN, {doc['epochs']} epochs, global"
             f" batch {args.batch_size} in micro-batches of {args.batch_size // 2}, DataLoader in the main process, no"
             f" retrain; {machine['cpus']} cores shared with other jobs (load average"
             f" {machine['load_average_at_start'][0]:.1f} at the start), commit {machine['commit']}.", "",
             "| run | train img/s | score img/s | train s | score s | total s | removed |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for name, r in doc["runs"].items():
        t = r["seconds"]
        lines.append(f"| {name} | {r['train_images_per_s']:.0f} | {r['score_images_per_s']:.0f} | {t['train']:.1f} |"
                     f" {t['score']:.1f} | {r['wall_s']:.1f} | {r['removed']} |")
    yes = {True: "identical", False: "differs"}
    lines += ["", f"manifest.json (the kept and removed samples): {yes[same['manifest.json']]}; manifest.csv (with the"
              f" scores): {yes[same['manifest.csv']]}; suspect.pt: {yes[same['suspect.pt']]} (largest weight"
              f" difference {same['max_weight_difference']:.3g}). Two threads sum a convolution's gradient in another"
              " order than one, and training carries the difference on. One process x one thread against two"
              f" processes x one thread: manifest.json {yes[one['manifest.json']]}, manifest.csv"
              f" {yes[one['manifest.csv']]}, suspect.pt {yes[one['suspect.pt']]}.", ""]
    text = "\n".join(lines)
    with open(os.path.join(RESULTS, "clean_scaling_cpu.md"), "w") as f:
        f.write(text)
    return text


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--work", default="/tmp/ucfast-bench-clean", help="data and run folders (default %(default)s)")
    p.add_argument("--scaling", action="store_true", help="the 2 x 1 vs 1 x 2 comparison instead of the main run")
    p.add_argument("--n-train", type=int, default=15000)
    p.add_argument("--n-test", type=int, default=2000)
    p.add_argument("--attack", default="badnets")
    p.add_argument("--rate", type=float, default=0.1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--epochs", type=int, default=4)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--threads", type=int, default=2, help="OMP_NUM_THREADS of the main run")
    args = p.parse_args()
    os.makedirs(args.work, exist_ok=True)
    (main_scaling if args.scaling else main_run)(args)


if __name__ == "__main__":
    main()
