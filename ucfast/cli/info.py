"""`ucfast info`: what was built, and which backends can run each op here (and why the others cannot).

    ucfast info           a readable report
    ucfast info --json    the same as one JSON object

Asking about the cuda device initialises CUDA in this process (through torch and ucfast._cuda);
that is fine for a command that only reports.
"""
from __future__ import annotations

import argparse
import json
import platform
import sys

import torch

import ucfast
from ucfast import backends, compiled

DEVICES = ("cpu", "cuda")


def _versions() -> dict:
    try:
        import triton

        triton_version = triton.__version__
    except Exception as err:  # any import failure: report it instead of a version
        triton_version = f"not importable ({type(err).__name__}: {err})"
    return {"ucfast": ucfast.__version__, "python": platform.python_version(), "torch": torch.__version__,
            "torch_cuda": torch.version.cuda, "triton": triton_version}


def _device_reasons(device: str) -> list[str]:
    """Why torch itself cannot put tensors on `device` here, whatever the backend (empty: it can)."""
    if device != "cuda" or torch.cuda.is_available():
        return []
    if torch.version.cuda is None:
        return [f"torch {torch.__version__} is a CPU-only build"]
    return [f"torch (built for CUDA {torch.version.cuda}) sees no CUDA device: no driver or no GPU"]


def collect() -> dict:
    """versions, build (compiled modules), devices ({device: reasons}) and backends
    ({device: {op: {backend: reasons}}}, the device's reasons included; an empty list: it can run there)."""
    build = compiled.build_info()
    if build["cpu"] is not None:
        build["cpu"]["kernel_threads"] = torch.get_num_threads()  # what ucfast.compiled passes to every kernel
    devices = {device: _device_reasons(device) for device in DEVICES}
    table = {device: {op: {backend: devices[device] + why
                           for backend, why in backends.available(op, torch.device(device)).items()}
                      for op in compiled.OPS}
             for device in DEVICES}
    return {"versions": _versions(), "build": build, "devices": devices, "backends": table}


def _module_lines(name: str, info: dict | None, error: str | None) -> list[str]:
    if info is None:
        return [f"  ucfast._{name}: not available: {error}"]
    return [f"  ucfast._{name}: built"] + [f"    {key}: {value}" for key, value in info.items()]


def _backend_lines(device: str, common: list[str], ops: dict) -> list[str]:
    names = backends.NAMES[1:]
    width = max(len(op) for op in ops)
    lines = [f"  on {device}:"] + [f"    no backend can run on {device}: {reason}" for reason in common]
    lines.append("    " + " " * width + "  " + "  ".join(f"{b:<6}" for b in names).rstrip())
    for op, reasons in ops.items():
        lines.append(f"    {op:<{width}}  " + "  ".join(f"{'no' if reasons[b] else 'yes':<6}" for b in names).rstrip())
    why: dict[str, list[str]] = {backend: [] for backend in names}
    for reasons in ops.values():
        for backend in names:
            why[backend] += [r for r in reasons[backend] if r not in common and r not in why[backend]]
    for backend, reasons in why.items():
        lines += [f"    {backend}: {reason}" for reason in reasons]
    return lines


def render(report: dict) -> str:
    build = report["build"]
    lines = ["versions:"] + [f"  {key}: {value}" for key, value in report["versions"].items()]
    lines.append("compiled modules:")
    lines += _module_lines("cpu", build["cpu"], build.get("cpu_error"))
    lines += _module_lines("cuda", build["cuda"], build.get("cuda_error"))
    lines.append("backends per op (yes: it can run there; no: the reasons follow the table):")
    for device, ops in report["backends"].items():
        lines += _backend_lines(device, report["devices"][device], ops)
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    report = collect()
    sys.stdout.write((json.dumps(report, indent=2) if args.json else render(report)) + "\n")
    return 0


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "info", help="what was built and which backends can run here",
        description="Print the compiled modules (CPU and CUDA: compiler, OpenMP, architectures, versions), the"
                    " library versions, and for each op and device which backends can run and why the others"
                    " cannot.")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of the readable report")
    p.set_defaults(func=run)
