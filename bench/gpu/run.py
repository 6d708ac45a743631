"""Build, test and benchmark ucfast on a GPU machine in one run of under 8 minutes; one JSON file says what happened.

    python bench/gpu/run.py --out "$OUT"           # on the GPU machine, from the repository root (about 7 minutes)
    python bench/gpu/run.py --out "$OUT" --quick   # a re-run after a fix: under 4 minutes
    python bench/gpu/run.py --dry-run              # print the plan and its budgets; run nothing

Steps, in order, each a subprocess in its own session with its own time limit (a step that runs past it is
killed with its children and recorded as timed out; the next step starts), each logged to <out>/<step>.log:
  build          pip install -e . (no index, no build isolation) for sm_90 only (UCFAST_CUDA_ARCHS=90,
                 UCFAST_FORCE_CUDA=1, CMAKE_BUILD_PARALLEL_LEVEL = the CPU count); --quick skips it when the
                 compiled CUDA module is already there and imports
  tests_cuda     pytest -m gpu on the CUDA backend's tests (tests/test_cuda_kernels.py)
  bench_cuda     the headline benchmarks: the fused variants op at 224 and 32 pixels, susceptibility bandwidth
  tests_gpu      the other gpu-marked tests (Triton, torch.compile, pipeline), Triton compiled on the GPU
  bench_triton   bench/bench_triton.py, with the Triton cache the tests just filled
  bench_sanitize the gpu entries of bench/bench_sanitize.py (ImageNet-size scoring against forward-only)
  bench_vs_triton  the CUDA variants op against Triton's, same run
--quick runs build (when needed), tests_cuda, bench_cuda and tests_gpu.

Triton's cache is <repo>/build/triton_cache (TRITON_CACHE_DIR): every step of a run, and later runs on the same
machine, share it, so the tests compile each kernel once and the benchmarks find it compiled.
The whole run also has a deadline (--budget seconds, default 450, --quick 220): a step gets at most what is left.

<out>/results.json: device, versions (torch, Triton, CUDA runtime, nvcc, driver), git commit, mode, the plan with
its budgets, and per step its command, exit status, seconds, whether it timed out, test counts, every benchmark's
statistics and extra_info, and the bars with whether each is met; <out>/<bench>.json: pytest-benchmark's own.
Exit status: 0 when every step ran and succeeded (a bar that is missed is reported, not an error).
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shlex
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TRITON_CACHE = ROOT / "build" / "triton_cache"
FULL_BUDGET_S, QUICK_BUDGET_S = 450, 220  # the bars: one run under 8 minutes, a quick re-run under 4
PY = sys.executable
PYTEST = [PY, "-m", "pytest", "-p", "no:cacheprovider"]


@dataclass
class Step:
    name: str
    cmd: list[str]
    budget_s: int
    kind: str  # "build", "tests" or "bench"
    quick: bool  # part of --quick
    env: dict = field(default_factory=dict)


def plan() -> list[Step]:
    """Every step of a full run, in order, with its time limit."""
    jobs = str(os.cpu_count() or 1)
    build_env = {"UCFAST_CUDA_ARCHS": "90", "UCFAST_FORCE_CUDA": "1", "CMAKE_BUILD_PARALLEL_LEVEL": jobs}

    def tests(*args):
        return [*PYTEST, "-q", "-m", "gpu", *args]

    def bench(path, *args):
        return [*PYTEST, path, "-s", "-q", *args]

    return [
        Step("build", [PY, "-m", "pip", "install", "-e", ".", "--no-build-isolation", "--no-deps", "--no-index", "-q"],
             140, "build", True, build_env),
        Step("tests_cuda", tests("tests/test_cuda_kernels.py"), 90, "tests", True),
        Step("bench_cuda", bench("bench/bench_cuda.py", "-k", "not triton"), 45, "bench", True),
        Step("tests_gpu", tests("tests", "--ignore=tests/test_cuda_kernels.py"), 70, "tests", True),
        Step("bench_triton", bench("bench/bench_triton.py"), 40, "bench", False),
        Step("bench_sanitize", bench("bench/bench_sanitize.py", "-m", "gpu"), 40, "bench", False),
        Step("bench_vs_triton", bench("bench/bench_cuda.py", "-k", "triton"), 25, "bench", False),
    ]


def cuda_module_loads() -> bool:
    probe = "import ucfast.ops.compiled as c, sys; sys.exit(c.CUDA_ERROR is not None)"
    return subprocess.run([PY, "-c", probe], cwd=ROOT, capture_output=True, timeout=120).returncode == 0


def select(steps: list[Step], quick: bool, only: list[str] | None, have_cuda_module: bool) -> list[Step]:
    chosen = [s for s in steps if (s.quick or not quick) and (only is None or s.name in only)]
    if quick and have_cuda_module:
        chosen = [s for s in chosen if s.name != "build"]
    return chosen


def _output(cmd: list[str]) -> str | None:
    """stdout of a short command, or None when it is missing or fails."""
    try:
        done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def metadata() -> dict:
    """Device, versions and commit of this run (torch and Triton are imported here; ucfast is not)."""
    import torch

    try:
        import triton
        triton_version = triton.__version__
    except ImportError as err:
        triton_version = f"not importable ({err})"
    nvcc = _output(["nvcc", "--version"])
    status = _output(["git", "status", "--porcelain", "--untracked-files=no"])
    info = {
        "time": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "commit": _output(["git", "rev-parse", "HEAD"]) or os.environ.get("UCFAST_COMMIT"),
        "commit_dirty": bool(status) if status is not None else None,
        "python": platform.python_version(), "platform": platform.platform(), "cpus": os.cpu_count(),
        "torch": torch.__version__, "triton": triton_version, "cuda_runtime": torch.version.cuda,
        "nvcc": nvcc.splitlines()[-1] if nvcc else None,
        "driver": _output(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"]),
        "device": None,
    }
    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        info["device"] = {"name": props.name, "capability": f"{props.major}.{props.minor}",
                          "memory_bytes": props.total_memory, "multiprocessors": props.multi_processor_count,
                          "count": torch.cuda.device_count()}
    return info


def _junit_counts(path: Path) -> dict | None:
    if not path.exists():
        return None
    suite = ET.parse(path).getroot()
    suite = suite.find("testsuite") if suite.tag == "testsuites" else suite
    return {k: int(suite.get(k, 0)) for k in ("tests", "failures", "errors", "skipped")}


def _benchmarks(path: Path, js: Path) -> tuple[list[dict], list[dict]]:
    if not js.exists():
        return [], []
    found, bars = [], []
    for bench in json.loads(js.read_text())["benchmarks"]:
        stats = {k: bench["stats"][k] for k in ("median", "iqr", "mean", "min", "max", "rounds")}
        found.append({"file": path, "name": bench["fullname"], "stats_s": stats, "extra_info": bench["extra_info"]})
        if "bar" in bench["extra_info"]:
            bars.append({"name": bench["fullname"], **bench["extra_info"]["bar"]})
    return found, bars


def run_step(step: Step, out: Path, limit_s: float) -> dict:
    """Run one step in its own session under `limit_s` seconds; its record for results.json."""
    cmd = list(step.cmd)
    if step.kind == "tests":
        cmd.append(f"--junitxml={out / (step.name + '.xml')}")
    if step.kind == "bench":
        cmd.append(f"--benchmark-json={out / (step.name + '.json')}")
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    env.update(step.env, TRITON_CACHE_DIR=str(TRITON_CACHE))
    record = {"command": shlex.join(cmd), "budget_s": step.budget_s, "limit_s": round(limit_s, 1)}
    print(f"[{step.name}] (limit {limit_s:.0f} s) {record['command']}", flush=True)
    start = time.monotonic()
    with open(out / f"{step.name}.log", "w") as log:
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        try:
            record["returncode"] = proc.wait(timeout=limit_s)
            record["timed_out"] = False
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            record["returncode"] = proc.wait()
            record["timed_out"] = True
    record["seconds"] = round(time.monotonic() - start, 1)
    if step.kind == "tests":
        record["counts"] = _junit_counts(out / f"{step.name}.xml")
    if step.kind == "bench":
        path = next(a for a in step.cmd if a.endswith(".py"))
        record["benchmarks"], record["bars"] = _benchmarks(path, out / f"{step.name}.json")
    if step.kind == "build" and record["returncode"] == 0:
        record["cuda_module_loads"] = cuda_module_loads()
    record["ok"] = record["returncode"] == 0 and not record["timed_out"] and record.get("cuda_module_loads", True)
    print(f"[{step.name}] exit {record['returncode']}{' (timed out)' if record['timed_out'] else ''} in"
          f" {record['seconds']} s (log: {out / f'{step.name}.log'})", flush=True)
    return record


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "gpu",
                        help="folder for results.json, the benchmark JSON and the logs (default bench/results/gpu)")
    parser.add_argument("--quick", action="store_true", help="a re-run after a fix: build only when needed, the"
                        " GPU tests and the headline benchmarks")
    parser.add_argument("--steps", default=None,
                        help="comma-separated step names: only these (default: all of the mode)")
    parser.add_argument("--budget", type=float, default=None, help="deadline of the whole run in seconds"
                        f" (default {FULL_BUDGET_S}, --quick {QUICK_BUDGET_S})")
    parser.add_argument("--dry-run", action="store_true", help="print the plan and its budgets; run nothing")
    args = parser.parse_args(argv)
    steps = plan()
    only = [s for s in args.steps.split(",") if s] if args.steps else None
    unknown = [s for s in only or () if s not in {st.name for st in steps}]
    if unknown:
        parser.error(f"--steps: unknown step(s) {unknown}; expected names from {[s.name for s in steps]}")
    budget = args.budget or (QUICK_BUDGET_S if args.quick else FULL_BUDGET_S)
    have_module = not args.dry_run and args.quick and cuda_module_loads()
    chosen = select(steps, args.quick, only, have_module)

    results = {"mode": "quick" if args.quick else "full", "dry_run": args.dry_run, "budget_s": budget,
               "plan": [{"name": s.name, "budget_s": s.budget_s, "command": shlex.join(s.cmd), "env": s.env}
                        for s in chosen],
               "metadata": metadata(), "steps": {}}
    print(f"{results['mode']} run, deadline {budget:.0f} s, triton cache {TRITON_CACHE}", flush=True)
    for s in chosen:
        print(f"  {s.name:16s} {s.budget_s:4d} s  {shlex.join(s.cmd)}", flush=True)
    print(f"  {'sum of budgets':16s} {sum(s.budget_s for s in chosen):4d} s", flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    results_path = args.out / "results.json"
    if args.dry_run:
        results_path.write_text(json.dumps(results, indent=2) + "\n")
        return 0
    if results["metadata"]["device"] is None:
        print("no CUDA GPU is visible: the gpu tests and the benchmarks will skip", flush=True)

    TRITON_CACHE.mkdir(parents=True, exist_ok=True)
    start = time.monotonic()
    for step in chosen:
        left = budget - (time.monotonic() - start)
        if left < 10:
            results["steps"][step.name] = {"skipped": f"the run's deadline ({budget:.0f} s) was reached", "ok": False}
            continue
        results["steps"][step.name] = run_step(step, args.out, min(step.budget_s, left))
        results["seconds"] = round(time.monotonic() - start, 1)
        results_path.write_text(json.dumps(results, indent=2) + "\n")
        if step.kind == "build" and not results["steps"][step.name]["ok"]:
            print("the build failed: no tests or benchmarks without it", flush=True)
            break
    results["seconds"] = round(time.monotonic() - start, 1)
    results_path.write_text(json.dumps(results, indent=2) + "\n")
    for record in results["steps"].values():
        for bar in record.get("bars", []):
            print(f"bar {bar['name']}: {bar['metric']} {bar['value']:,.3f} (>= {bar['threshold']:,}) "
                  f"{'met' if bar['meets'] else 'MISSED'}")
    print(f"results: {results_path} ({results['seconds']} s)")
    ran = [results["steps"].get(s.name, {"ok": False}) for s in chosen]
    return 0 if all(r["ok"] for r in ran) else 1


if __name__ == "__main__":
    sys.exit(main())
