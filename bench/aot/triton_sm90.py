"""Compile every Triton kernel of ucfast for sm_90 (H100/H200) on a machine without a GPU, and check it.

    python bench/aot/triton_sm90.py [--jobs N] [--timeout S] [--only REGEX] [--out DIR]

The launchers (ucfast.kernels.variants.variants/denoise, ucfast.kernels.susceptibility.susceptibility)
run on CPU tensors of the shapes the library meets (32 x 32 and 224 x 224 images, K = 10, 1000, 4000 and
21,841 classes) with their kernel objects swapped for recorders, so this sees the arguments, constexprs
and grid a GPU launch would get. Each recorded launch is bound the way `kernel[grid](...)` binds it
(Triton's own binder: divisibility-16 attributes, ints equal to 1 folded) and compiled with
`triton.compile` for GPUTarget("cuda", 90, 32), once per autotune config the autotuner would try
(after the kernel's own early_config_prune). Identical specialisations compile once. No driver is used.

Per compile: registers, spill stores/loads and stack (the bundled ptxas' -v log), shared memory
(metadata.shared, what a launch requests) and the compile time. Results are merged, per Triton version,
into DIR/triton_sm90.json and rendered to DIR/triton_sm90.md (default DIR: bench/results).

Fails (exit 1) on a compile error, a kernel that cannot launch on sm_90 (threads, shared memory,
registers), any spill, or a compile that took more than --max-seconds (60): a slow ptxas is the first
sign of a kernel that spills or shuffles. A compile still running after --timeout is killed and fails.
"""
from __future__ import annotations

import argparse
import contextlib
import io
import json
import multiprocessing
import os
import platform
import re
import signal
import sys
import tempfile
import time
from pathlib import Path

os.environ.pop("TRITON_INTERPRET", None)  # the kernel modules must be decorated for compiling

import torch  # noqa: E402
import triton  # noqa: E402
from triton.backends.compiler import GPUTarget  # noqa: E402
from triton.compiler import ASTSource, make_backend  # noqa: E402
from triton.runtime.jit import JITFunction, create_function_from_signature  # noqa: E402

from ucfast.kernels import susceptibility as ts  # noqa: E402
from ucfast.kernels import variants as tv  # noqa: E402

TARGET = GPUTarget("cuda", 90, 32)
# sm_90 per block and per SM: threads, shared memory (227 KiB opt-in per block), 64K registers
MAX_THREADS, MAX_SMEM, REGS_PER_SM, REG_UNIT = 1024, 232448, 65536, 256
MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
RESULTS = Path(__file__).resolve().parents[1] / "results"


def _variants(b, hw, denoisers, dtype, in_dtype=torch.uint8, channels_last=False):
    def run():
        x = (torch.randint(0, 256, (b, 3, hw, hw), dtype=torch.uint8) if in_dtype == torch.uint8
             else torch.rand(b, 3, hw, hw, dtype=in_dtype))
        tv.variants(x, denoisers, 1.0, MEAN, STD, dtype, channels_last)
    return tv, run


def _denoise(b, hw, name):
    return tv, lambda: tv.denoise(torch.randint(0, 256, (b, 3, hw, hw), dtype=torch.uint8), name)


def _susceptibility(v, b, k, dtype, space="softmax", distance="l1"):
    return ts, lambda: ts.susceptibility(torch.randn(v * b, k).to(dtype), v, space, distance)


BF16, F16, F32 = torch.bfloat16, torch.float16, torch.float32
CASES = {  # name -> (module, launcher run)
    "variants/224/u8->bf16/median+nlm": _variants(2, 224, ("median", "nlm"), BF16),
    "variants/32/u8->f32/median+nlm+bitdepth": _variants(4, 32, ("median", "nlm", "bitdepth"), F32),
    "variants/224/f32->f16/channels_last/median+bitdepth": _variants(2, 224, ("median", "bitdepth"), F16, F32, True),
    "variants/32/u8->bf16/median": _variants(4, 32, ("median",), BF16),
    "denoise/224/nlm": _denoise(2, 224, "nlm"),
    "denoise/32/median": _denoise(4, 32, "median"),
    "susceptibility/V3/K10/f32/softmax-l1": _susceptibility(3, 8, 10, F32),
    "susceptibility/V3/K1000/bf16/softmax-kl": _susceptibility(3, 8, 1000, BF16, "softmax", "kl"),
    "susceptibility/V3/K4000/f32/softmax-l1": _susceptibility(3, 4, 4000, F32),
    "susceptibility/V3/K21841/f32/softmax-l1": _susceptibility(3, 4, 21841, F32),
    "susceptibility/V4/K1000/f16/logits-l2": _susceptibility(4, 8, 1000, F16, "logits", "l2"),
}
SHOWN = ("BLOCK", "BLOCK_E", "V_BLOCK", "BLOCK_K")


def record(module, run) -> list[tuple]:
    """[(JITFunction, [Config], args, kwargs)] of every launch the launcher makes; configs as the
    autotuner would try them (its early_config_prune applied), [None] for a plain kernel."""
    launches = []
    kernels = {n: o for n, o in vars(module).items() if isinstance(o, (JITFunction, triton.runtime.Autotuner))}

    class Recorder:
        def __init__(self, obj):
            self.obj = obj

        def __getitem__(self, grid):
            def launch(*args, **kwargs):
                obj, configs = self.obj, [None]
                if isinstance(obj, triton.runtime.Autotuner):
                    configs = obj.configs
                    if obj.early_config_prune:
                        configs = obj.early_config_prune(configs, dict(zip(obj.arg_names, args)), **kwargs)
                    obj = obj.fn
                launches.append((obj, list(configs), args, kwargs))
            return launch

    try:
        for name, obj in kernels.items():
            setattr(module, name, Recorder(obj))
        run()
    finally:
        for name, obj in kernels.items():
            setattr(module, name, obj)
    return launches


def specialise(fn: JITFunction, config, args, kwargs):
    """(options, signature, constexprs, attrs): what JITFunction.run would compile for this launch."""
    backend = make_backend(TARGET)
    binder = create_function_from_signature(fn.signature, fn.params, backend)
    kw = {**kwargs, **(config.all_kwargs() if config else {})}
    kw.setdefault("debug", False)
    bound, spec, opts = binder(*args, **kw)
    return fn._pack_args(backend, kw, bound, spec, opts)


def plan(only: str) -> list[dict]:
    """One job per distinct (kernel, specialisation, config) over the cases, with the cases it serves."""
    jobs = {}
    for case, (module, run) in CASES.items():
        if only and not re.search(only, case):
            continue
        for li, (fn, configs, args, kwargs) in enumerate(record(module, run)):
            for ci, config in enumerate(configs):
                options, signature, constexprs, attrs = specialise(fn, config, args, kwargs)
                key = repr((fn.__name__, sorted(signature.items()), sorted(constexprs.items()),
                            sorted(attrs.items()), options.num_warps, options.num_stages))
                if key in jobs:
                    jobs[key]["cases"].append(case)
                    continue
                shown = {n: kwargs[n] for n in SHOWN if n in kwargs}
                jobs[key] = {"kernel": fn.__name__, "cases": [case], "launch": li, "config": ci,
                             "num_warps": options.num_warps, "maxnreg": options.maxnreg, "constexprs": shown}
    return list(jobs.values())


def parse_ptxas(log: str) -> dict:
    out = {}
    if m := re.search(r"Used (\d+) registers", log):
        out["regs"] = int(m.group(1))
    if m := re.search(r"(\d+) bytes stack frame, (\d+) bytes spill stores, (\d+) bytes spill loads", log):
        out["stack"], out["spill_stores"], out["spill_loads"] = map(int, m.groups())
    return out


def compile_one(job: dict) -> dict:
    """Compile one job (in a forked child): its resources and seconds, or its error."""
    module, run = CASES[job["cases"][0]]
    fn, configs, args, kwargs = record(module, run)[job["launch"]]
    options, signature, constexprs, attrs = specialise(fn, configs[job["config"]], args, kwargs)
    triton.knobs.nvidia.dump_ptxas_log = True
    triton.knobs.compilation.always_compile = True
    log = io.StringIO()
    t0 = time.perf_counter()
    try:
        with contextlib.redirect_stdout(log):
            kernel = triton.compile(ASTSource(fn, signature, constexprs, attrs), target=TARGET,
                                    options=options.__dict__)
    except Exception as err:  # the compile error, verbatim (Triton appends IR dumps: cut them)
        return {"error": f"{type(err).__name__}: {err}".split("\n=====")[0][:3000],
                "seconds": round(time.perf_counter() - t0, 1)}
    res = {"seconds": round(time.perf_counter() - t0, 1), "smem": int(kernel.metadata.shared),
           **parse_ptxas(log.getvalue())}
    if "regs" not in res:
        res["error"] = "no ptxas -v log: resources unknown"
    return res


def _child(job: dict, conn) -> None:
    os.setsid()  # own process group: a timeout ends this child and its ptxas together
    try:
        conn.send(compile_one(job))
    except Exception as err:  # a launcher or binding failure: reported as this job's error
        conn.send({"error": f"{type(err).__name__}: {err}"[:3000]})


def run_jobs(jobs: list[dict], parallel: int, timeout: float) -> None:
    """Compile the jobs, `parallel` at a time, each in a forked child; results go into the jobs."""
    ctx = multiprocessing.get_context("fork")
    pending, running = list(jobs), []
    while pending or running:
        while pending and len(running) < parallel:
            job = pending.pop(0)
            recv, send = ctx.Pipe(duplex=False)
            proc = ctx.Process(target=_child, args=(job, send))
            proc.start()
            send.close()
            running.append((job, proc, recv, time.monotonic()))
        time.sleep(0.2)
        for item in list(running):
            job, proc, recv, start = item
            if recv.poll():
                job.update(recv.recv())
            elif proc.is_alive() and time.monotonic() - start < timeout:
                continue
            elif proc.is_alive():
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                job.update(error=f"killed after {timeout:.0f} s", seconds=round(timeout))
            elif "seconds" not in job:
                job.update(error=f"compile process died (exit {proc.exitcode})")
            proc.join()
            running.remove(item)
            print(f"  {job['kernel']} w{job['num_warps']} {job['constexprs']}: "
                  + (job["error"].splitlines()[0] if "error" in job else
                     f"{job['regs']} regs, {job['spill_stores']}/{job['spill_loads']} B spilled,"
                     f" {job['smem']} B smem, {job['seconds']} s"), flush=True)


def verdict(job: dict, max_seconds: float) -> list[str]:
    """Why this compile fails the check (empty: it passes)."""
    if "error" in job:
        return [job["error"].splitlines()[0]]
    why = []
    threads = 32 * job["num_warps"]
    regs_per_warp = -(-job["regs"] * 32 // REG_UNIT) * REG_UNIT
    if threads > MAX_THREADS:
        why.append(f"{threads} threads > {MAX_THREADS}")
    if job["smem"] > MAX_SMEM:
        why.append(f"{job['smem']} B shared memory > {MAX_SMEM} B per block")
    if regs_per_warp * job["num_warps"] > REGS_PER_SM:
        why.append(f"{job['regs']} registers x {threads} threads > {REGS_PER_SM}")
    if job["spill_stores"] or job["spill_loads"]:
        why.append(f"spills {job['spill_stores']} B / reloads {job['spill_loads']} B")
    if job["seconds"] > max_seconds:
        why.append(f"compile took {job['seconds']} s > {max_seconds:.0f} s")
    return why


def render(runs: dict) -> str:
    lines = ["# Triton kernels compiled for sm_90 (no GPU needed)", "",
             "Written by `bench/aot/triton_sm90.py` (run by .ci/run with each Triton version below): every",
             "launch the launchers make for 32 x 32 and 224 x 224 images and K = 10, 1000, 4000, 21841, compiled with",
             "`triton.compile(..., target=GPUTarget('cuda', 90, 32))` for each autotune config the autotuner tries.",
             "regs and spills from the wheel's ptxas -v; smem is what the launch requests; s is the compile time",
             "on the machine named (2 cores in CI). A row fails on a compile error, a kernel that cannot launch",
             "on sm_90, any spill, or more than 60 s.", ""]
    for version, run in sorted(runs.items()):
        lines += [f"## Triton {version}", "",
                  f"{run['machine']}; {len(run['jobs'])} compiles in {run['wall_seconds']} s wall"
                  f" ({run['parallel']} at a time); {'all pass' if run['ok'] else 'FAILED'}.", "",
                  "| kernel | warps | maxnreg | constexprs | regs | spill st/ld (B) | stack (B) | smem (B) | s | cases"
                  " | status |",
                  "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
        for j in run["jobs"]:
            cx = ", ".join(f"{k}={v}" for k, v in j["constexprs"].items())
            spills = f"{j['spill_stores']}/{j['spill_loads']}" if "spill_stores" in j else ""
            status = "; ".join(j["fail"]) if j["fail"] else "ok"
            lines.append(f"| {j['kernel']} | {j['num_warps']} | {j['maxnreg'] or ''} | {cx} | {j.get('regs', '')} |"
                         f" {spills} | {j.get('stack', '')} | {j.get('smem', '')} | {j.get('seconds', '')} |"
                         f" {'<br>'.join(j['cases'])} | {status} |")
        lines.append("")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="compiles at a time")
    ap.add_argument("--timeout", type=float, default=180, help="kill a compile after this many seconds")
    ap.add_argument("--max-seconds", type=float, default=60, help="fail a compile that takes longer")
    ap.add_argument("--only", default="", help="only the cases matching this regex (the results are not written)")
    ap.add_argument("--out", type=Path, default=RESULTS, help="folder of triton_sm90.json and .md")
    a = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="triton_sm90_") as cache:
        os.environ["TRITON_CACHE_DIR"] = cache  # always_compile: nothing is read from it, nothing kept
        return _check(a)


def _check(a) -> int:
    jobs = plan(a.only)
    print(f"triton_sm90: triton {triton.__version__}, sm_90, {len(jobs)} compiles, {a.jobs} at a time", flush=True)
    t0 = time.perf_counter()
    run_jobs(jobs, a.jobs, a.timeout)
    for job in jobs:
        job["fail"] = verdict(job, a.max_seconds)
    ok = not any(j["fail"] for j in jobs)
    for job in jobs:
        if job["fail"]:
            print(f"FAIL {job['kernel']} w{job['num_warps']} {job['constexprs']} ({', '.join(job['cases'])}):"
                  f" {'; '.join(job['fail'])}")
            if "error" in job:
                print(job["error"])
    if not a.only:
        path = a.out / "triton_sm90.json"
        runs = json.loads(path.read_text()) if path.exists() else {}
        runs[triton.__version__] = {"machine": f"{platform.machine()}, {os.cpu_count()} cores, Python"
                                               f" {platform.python_version()}, torch {torch.__version__}",
                                    "parallel": a.jobs, "wall_seconds": round(time.perf_counter() - t0, 1),
                                    "ok": ok, "jobs": jobs}
        path.write_text(json.dumps(runs, indent=1) + "\n")
        (a.out / "triton_sm90.md").write_text(render(runs))
    print(f"triton_sm90: {'ok' if ok else 'FAILED'} in {time.perf_counter() - t0:.0f} s")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
