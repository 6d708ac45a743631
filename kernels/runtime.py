"""Whether the Triton kernels can run here, and why not; shared by every Triton op.

Nothing in this module imports Triton at import time, so `ucfast.kernels` imports without it.
The kernel modules (variants.py, susceptibility.py) import Triton and are loaded on first use,
after TRITON_INTERPRET has had its say: Triton reads that variable when a kernel is decorated.
"""
from __future__ import annotations

import functools
import os
import sys

import torch

FLOAT_DTYPES = (torch.float32, torch.bfloat16, torch.float16)


@functools.lru_cache(maxsize=None)
def triton_import_error() -> str | None:
    """None when Triton imports, else the import error as text."""
    try:
        import triton  # noqa: F401
        import triton.language  # noqa: F401
    except Exception as err:  # any failure to import makes the backend unavailable, with its text
        return f"{type(err).__name__}: {err}"
    return None


def interpreting() -> bool:
    """True when Triton runs kernels in its CPU interpreter (TRITON_INTERPRET=1)."""
    return os.environ.get("TRITON_INTERPRET", "") == "1"


def device_reasons(device: torch.device) -> list[str]:
    """Why Triton kernels cannot run on `device` in this process (empty: they can)."""
    err = triton_import_error()
    if err is not None:
        return [f"triton is not importable ({err})"]
    if device.type != "cuda" and not interpreting():
        return [f"tensors are on {device.type}, not CUDA, and TRITON_INTERPRET is not '1' "
                "(Triton's CPU interpreter is off)"]
    for name in ("ucfast.kernels.variants", "ucfast.kernels.susceptibility"):
        module = sys.modules.get(name)
        if module is not None and module.INTERPRET != interpreting():
            mode = "interpreted" if module.INTERPRET else "compiled"
            return [f"{name} was loaded {mode} (TRITON_INTERPRET changed since); restart the process"]
    return []


def keep_configs(configs: list, lanes: int, most_per_thread: int) -> list:
    """The autotune configs worth compiling for a tile of `lanes` elements: those whose threads hold
    1..most_per_thread elements each (more spills on sm_90, fewer leaves threads idle); when none
    does, the one nearest that range. An `early_config_prune` helper: the autotuner compiles only these."""
    fits = [c for c in configs if 1 <= lanes / (32 * c.num_warps) <= most_per_thread]
    if fits:
        return fits
    if all(lanes / (32 * c.num_warps) > most_per_thread for c in configs):
        return [max(configs, key=lambda c: c.num_warps)]
    return [min(configs, key=lambda c: c.num_warps)]
