"""Build, test and benchmark ucfast on a GPU machine in one go; everything lands in one JSON file.

    python bench/gpu/run.py --out bench/results/gpu              # from the repository root, on the GPU machine
    python bench/gpu/run.py --out DIR --steps tests,bench        # some steps only (each command under a time limit)
    python bench/gpu/run.py --dry-run                            # print the steps, write the metadata only

Steps, each logged to <out>/<step>.log:
  build   pip install -e . --no-build-isolation --no-deps --no-index: nothing is downloaded; the compiled
          CUDA module builds when nvcc is on PATH (CMakeLists.txt, UCFAST_BUILD_CUDA=auto)
  tests   the gpu-marked tests, then the fast non-gpu tests (-m "not gpu and not slow"); with a GPU
          present the Triton tests run compiled on it (TRITON_INTERPRET is removed from their environment)
  bench   bench/bench_triton.py, bench/bench_cuda.py when it exists, and the gpu entries of
          bench/bench_sanitize.py (ImageNet-size scoring against forward-only), with --benchmark-json

<out>/results.json holds the device, versions (torch, Triton, CUDA runtime, nvcc, driver), the git commit
(from git, or $UCFAST_COMMIT where the copy has no .git),
which compiled modules load, each step's exit status and test counts, every benchmark's statistics and
extra_info, and the bars with whether each is met. Steps run separately add to the same results.json.
Exit status: 0 when every step that ran succeeded (a bar that is missed is reported, not an error).
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shlex
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
STEPS = ("build", "tests", "bench")
# Benchmark file -> extra pytest arguments.
BENCH_FILES = {"bench/bench_triton.py": [], "bench/bench_cuda.py": [], "bench/bench_sanitize.py": ["-m", "gpu"]}


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
    commit = _output(["git", "rev-parse", "HEAD"]) or os.environ.get("UCFAST_COMMIT")
    status = _output(["git", "status", "--porcelain", "--untracked-files=no"])
    info = {
        "time": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "commit": commit,
        "commit_dirty": bool(status) if status is not None else None,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "torch": torch.__version__,
        "triton": triton_version,
        "cuda_runtime": torch.version.cuda,
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


def _run(name: str, cmd: list[str], out: Path, dry_run: bool, env: dict | None = None) -> dict:
    """Run one command with its output in <out>/<name>.log; its record for results.json."""
    record = {"command": shlex.join(cmd)}
    print(f"[{name}] {record['command']}", flush=True)
    if dry_run:
        return record
    with open(out / f"{name}.log", "w") as log:
        record["returncode"] = subprocess.run(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env=env).returncode
    print(f"[{name}] exit {record['returncode']} (log: {out / f'{name}.log'})", flush=True)
    return record


def _junit_counts(path: Path) -> dict | None:
    if not path.exists():
        return None
    suite = ET.parse(path).getroot()
    suite = suite.find("testsuite") if suite.tag == "testsuites" else suite
    return {k: int(suite.get(k, 0)) for k in ("tests", "failures", "errors", "skipped")}


def step_build(out: Path, dry_run: bool) -> dict:
    cmd = [sys.executable, "-m", "pip", "install", "-e", ".", "--no-build-isolation", "--no-deps", "--no-index"]
    record = {"install": _run("build", cmd, out, dry_run)}
    probe = ("import json, ucfast.compiled as c; "
             "print(json.dumps({'cpu': c.CPU_ERROR or 'loads', 'cuda': c.CUDA_ERROR or 'loads'}))")
    if not dry_run and record["install"]["returncode"] == 0:
        modules = _output([sys.executable, "-c", probe])
        record["compiled_modules"] = json.loads(modules) if modules else "ucfast does not import"
    record["ok"] = dry_run or (record["install"]["returncode"] == 0 and isinstance(record.get("compiled_modules"), dict))
    return record


def step_tests(out: Path, dry_run: bool) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    record = {}
    for name, marks in (("tests_gpu", "gpu"), ("tests_fast", "not gpu and not slow")):
        xml = out / f"{name}.xml"
        cmd = [sys.executable, "-m", "pytest", "tests", "-q", "-m", marks, "-p", "no:cacheprovider",
               f"--junitxml={xml}"]
        record[name] = _run(name, cmd, out, dry_run, env)
        if not dry_run:
            record[name]["counts"] = _junit_counts(xml)
    record["ok"] = dry_run or all(record[n]["returncode"] == 0 for n in ("tests_gpu", "tests_fast"))
    return record


def step_bench(out: Path, dry_run: bool) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    record = {"benchmarks": [], "bars": []}
    ok = True
    for path, extra in BENCH_FILES.items():
        if not (ROOT / path).exists():
            record[Path(path).stem] = "absent"
            continue
        name = Path(path).stem
        js = out / f"{name}.json"
        cmd = [sys.executable, "-m", "pytest", path, "-s", "-p", "no:cacheprovider", f"--benchmark-json={js}", *extra]
        record[name] = _run(name, cmd, out, dry_run, env)
        if dry_run:
            continue
        ok = ok and record[name]["returncode"] == 0
        if not js.exists():
            continue
        for bench in json.loads(js.read_text())["benchmarks"]:
            stats = {k: bench["stats"][k] for k in ("median", "iqr", "mean", "min", "max", "rounds")}
            record["benchmarks"].append({"file": path, "name": bench["fullname"], "stats_s": stats,
                                         "extra_info": bench["extra_info"]})
            if "bar" in bench["extra_info"]:
                record["bars"].append({"name": bench["fullname"], **bench["extra_info"]["bar"]})
    record["ok"] = ok
    return record


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "gpu",
                        help="folder for results.json and the logs (default bench/results/gpu)")
    parser.add_argument("--steps", default=",".join(STEPS), help=f"comma-separated, from {STEPS} (default all)")
    parser.add_argument("--dry-run", action="store_true", help="print the commands, run none; write the metadata")
    args = parser.parse_args(argv)
    steps = [s for s in args.steps.split(",") if s]
    unknown = [s for s in steps if s not in STEPS]
    if unknown:
        parser.error(f"--steps: unknown step(s) {unknown}; expected names from {STEPS}")

    args.out.mkdir(parents=True, exist_ok=True)
    results_path = args.out / "results.json"
    results = json.loads(results_path.read_text()) if results_path.exists() else {"steps": {}}
    results["metadata"] = metadata()
    results["dry_run"] = args.dry_run
    if results["metadata"]["device"] is None and not args.dry_run:
        print("no CUDA GPU is visible: the gpu tests and the benchmarks will skip", flush=True)
    run_step = {"build": step_build, "tests": step_tests, "bench": step_bench}
    ran = []
    for name in steps:
        results["steps"][name] = run_step[name](args.out, args.dry_run)
        results_path.write_text(json.dumps(results, indent=2) + "\n")
        ran.append(name)
        if name == "build" and not results["steps"][name]["ok"]:
            print("the build failed: no tests or benchmarks without it", flush=True)
            break
    for bar in results["steps"].get("bench", {}).get("bars", []):
        print(f"bar {bar['name']}: {bar['metric']} {bar['value']:,.3f} (>= {bar['threshold']:,}) "
              f"{'met' if bar['meets'] else 'MISSED'}")
    print(f"results: {results_path}")
    return 0 if all(results["steps"][name]["ok"] for name in ran) and len(ran) == len(steps) else 1


if __name__ == "__main__":
    sys.exit(main())
