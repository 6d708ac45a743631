"""Compile ucfast's CUDA kernels for one architecture (sm_90 by default) without a GPU and report their resources.

    python bench/aot/cuda_sm90.py                     # writes bench/results/cuda_sm90.md and .json
    python bench/aot/cuda_sm90.py --arch 80 --out /tmp/cuda_sm80

Each csrc/cuda/*.cu is compiled as CMakeLists.txt compiles it (nvcc -O3 -std=c++17, include paths csrc and
csrc/common) for `-gencode arch=compute_ARCH,code=sm_ARCH` with `-Xptxas -v`; the files compile in parallel.
Per kernel the report gives registers, spill stores/loads, stack frame, static shared memory (ptxas), the
dynamic shared memory the launcher requests at UltraClean's NLM parameters (template 7, search 13, its
weight tables; the layout of csrc/cuda/nlm_tile.cuh), the block size the launcher uses and the occupancy on
an H100/H200-class SM (sm_90: 64K registers, 228 KiB shared memory, 64 warps, 32 blocks).

Exit status: 0 when every file compiles and no kernel spills or uses a stack frame for local arrays;
1 on a compile error, a spill or a stack frame; 2 when nvcc is missing.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SM90 = {"regs_per_sm": 65536, "reg_unit": 256, "smem_per_sm": 233472, "smem_per_block": 232448,
        "smem_reserved": 1024, "max_warps": 64, "max_blocks": 32, "max_threads": 1024}
# Block size of each kernel's launch (csrc/cuda/*.cu): kBlock = 256 unless the kernel names its own.
NLM_THREADS = 320  # nlm_tile::kThreads
BLOCK_THREADS = {"nlm_kernel": NLM_THREADS, "variants_kernel": NLM_THREADS}
TILE = 32  # nlm_tile::kTileW = kTileH
SHARED_TABLE = 2048  # nlm_tile::kSharedTable


def nlm_smem(template: int = 7, search: int = 13) -> dict[str, int]:
    """Dynamic shared memory of nlm_kernel and variants_kernel at these NLM parameters (nlm_tile::Layout)."""
    sys.path.insert(0, str(ROOT))
    from ucfast.ops.denoisers import nlm_tables

    import torch

    tables = nlm_tables(5.0, 5.0, template, search, torch.device("cpu"))
    t2, s2 = template // 2, search // 2
    ext = TILE + 2 * (t2 + s2)
    table = tables.light.numel() + tables.ab.numel()
    table = table if table <= SHARED_TABLE else 0
    nlm = 4 * (2 * (TILE + 2 * t2) * TILE + table) + 2 * 3 * ext * ext
    return {"nlm_kernel": nlm, "variants_kernel": nlm + 3 * ext * ext}


def occupancy(regs: int, threads: int, smem: int, hw=SM90) -> dict:
    warps = -(-threads // 32)
    regs_warp = -(-max(regs, 1) * 32 // hw["reg_unit"]) * hw["reg_unit"]
    if smem > hw["smem_per_block"] or regs_warp * warps > hw["regs_per_sm"]:
        return {"blocks_per_sm": 0, "occupancy": 0.0, "limit": "cannot launch"}
    limits = {"regs": hw["regs_per_sm"] // (regs_warp * warps),
              "smem": hw["smem_per_sm"] // (smem + hw["smem_reserved"]),
              "warps": hw["max_warps"] // warps, "blocks": hw["max_blocks"]}
    limit = min(limits, key=limits.get)
    blocks = limits[limit]
    return {"blocks_per_sm": blocks, "occupancy": round(blocks * warps / hw["max_warps"], 3), "limit": limit}


def demangle(names: list[str]) -> list[str]:
    tool = shutil.which("c++filt")
    if not tool:
        return names
    out = subprocess.run([tool], input="\n".join(names), capture_output=True, text=True).stdout.splitlines()
    short = []
    for name in out:
        name = name.replace("(anonymous namespace)::", "").replace("ucfast::cuda::", "")
        short.append(re.sub(r"^void ", "", re.sub(r"\(.*", "", name)))
    return short


def parse(log: str) -> list[dict]:
    """Per-kernel resources from a ptxas -v log."""
    rows = []
    for m in re.finditer(r"Compiling entry function '(\w+)' for 'sm_\d+'\n(.*?)(?=ptxas info\s+: Compiling entry|\Z)",
                         log, flags=re.S):
        body, r = m.group(2), {"mangled": m.group(1)}
        if g := re.search(r"Used (\d+) registers", body):
            r["regs"] = int(g.group(1))
        if g := re.search(r"(\d+) bytes stack frame, (\d+) bytes spill stores, (\d+) bytes spill loads", body):
            r["stack"], r["spill_stores"], r["spill_loads"] = map(int, g.groups())
        g = re.search(r"(\d+) bytes smem", body)
        r["static_smem"] = int(g.group(1)) if g else 0
        rows.append(r)
    return rows


def compile_one(cu: Path, arch: int, nvcc: str, work: Path) -> dict:
    cmd = [nvcc, "-O3", "-std=c++17", "-Xcompiler=-fPIC", f"-I{ROOT / 'csrc'}", f"-I{ROOT / 'csrc' / 'common'}",
           "-gencode", f"arch=compute_{arch},code=sm_{arch}", "-Xptxas", "-v", "-c", str(cu),
           "-o", str(work / f"{cu.stem}.o")]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        return {"file": cu.name, "ok": False, "error": (done.stderr or done.stdout)[-4000:], "kernels": []}
    return {"file": cu.name, "ok": True, "kernels": parse(done.stderr)}


def check(arch: int, nvcc: str, jobs: int) -> dict:
    dynamic = nlm_smem()
    sources = sorted((ROOT / "csrc" / "cuda").glob("*.cu"))
    with tempfile.TemporaryDirectory(prefix="ucfast_ptxas_") as tmp, ThreadPoolExecutor(jobs) as pool:
        files = list(pool.map(lambda cu: compile_one(cu, arch, nvcc, Path(tmp)), sources))
    for f in files:
        for r, name in zip(f["kernels"], demangle([r["mangled"] for r in f["kernels"]])):
            r["kernel"] = name
            base = re.sub(r"<.*", "", name)
            r["threads"] = BLOCK_THREADS.get(base, 256)
            r["dynamic_smem"] = dynamic.get(base, 0)
            r.update(occupancy(r.get("regs", 0), r["threads"], r["static_smem"] + r["dynamic_smem"]))
            r["ok"] = r.get("spill_stores", 0) == 0 and r.get("spill_loads", 0) == 0 and r.get("stack", 0) == 0
    version = subprocess.run([nvcc, "--version"], capture_output=True, text=True).stdout.strip().splitlines()
    ok = all(f["ok"] and all(r["ok"] for r in f["kernels"]) for f in files)
    return {"arch": f"sm_{arch}", "nvcc": version[-1] if version else None, "ok": ok, "files": files}


def markdown(report: dict) -> str:
    lines = [f"# CUDA kernels on {report['arch']} (ptxas -v)", "",
             f"`python bench/aot/cuda_sm90.py` with {report['nvcc']}; occupancy at the launch's block size and"
             " shared memory (static + the dynamic bytes at template 7, search 13) on a 64K-register,"
             " 228 KiB, 64-warp SM. A spill or a stack frame fails the check.", "",
             "| file | kernel | regs | spills (st/ld) | stack | smem static + dynamic | threads | blocks/SM | "
             "occupancy | limit | ok |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for f in report["files"]:
        if not f["ok"]:
            lines.append(f"| {f['file']} | compile error | | | | | | | | | no |")
            continue
        for r in f["kernels"]:
            lines.append(f"| {f['file']} | `{r['kernel']}` | {r.get('regs', '?')} | {r.get('spill_stores', '?')}/"
                         f"{r.get('spill_loads', '?')} | {r.get('stack', '?')} | {r['static_smem']} + "
                         f"{r['dynamic_smem']} | {r['threads']} | {r['blocks_per_sm']} | {r['occupancy']:.0%} | "
                         f"{r['limit']} | {'yes' if r['ok'] else 'NO'} |")
    errors = [f for f in report["files"] if not f["ok"]]
    for f in errors:
        lines += ["", f"## {f['file']}: compile error", "", "```", f["error"].strip(), "```"]
    lines += ["", f"Result: {'pass' if report['ok'] else 'FAIL'}", ""]
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--arch", type=int, default=90, help="compute capability as one number (default 90)")
    parser.add_argument("--out", type=Path, default=None,
                        help="report path without suffix (default bench/results/cuda_sm<ARCH>)")
    parser.add_argument("--nvcc", default=os.environ.get("CUDACXX") or shutil.which("nvcc"), help="nvcc to use")
    parser.add_argument("-j", "--jobs", type=int, default=os.cpu_count() or 1, help="parallel compiles")
    args = parser.parse_args(argv)
    if not args.nvcc:
        print("nvcc not found: put it on PATH, set CUDACXX or pass --nvcc", file=sys.stderr)
        return 2
    report = check(args.arch, args.nvcc, args.jobs)
    out = args.out or ROOT / "bench" / "results" / f"cuda_sm{args.arch}"
    out.parent.mkdir(parents=True, exist_ok=True)
    text = markdown(report)
    out.with_suffix(".md").write_text(text)
    out.with_suffix(".json").write_text(json.dumps(report, indent=2) + "\n")
    print(text)
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
