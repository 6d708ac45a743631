"""What the compiled backends `cpu` (ucfast._cpu, C++17 + OpenMP) and `cuda` (ucfast._cuda) share.

Both modules are built by CMakeLists.txt; either may be missing, and then every op's reasons say
why. The modules take raw pointers, sizes, element strides and a CUDA stream; ucfast/ops/cpu.py
and ucfast/ops/cuda.py own the torch side (check tensors, allocate outputs, pass the tables of
ucfast/ops/denoisers.py). This file loads the modules, says why a backend cannot run, and holds the
argument packing both use.
"""
from __future__ import annotations

import importlib

import torch

from .denoisers import border_map, check_nlm_args, lab_tables, nlm_tables

OPS = ("median", "median_kxk", "nlm", "bitdepth", "variants", "susceptibility")
# Element-type codes of csrc/common/ucfast/common.h (enum class DType).
DTYPE_CODES = {torch.uint8: 0, torch.float32: 1, torch.bfloat16: 2, torch.float16: 3, torch.float64: 4}
MODEL_DTYPES = (torch.float32, torch.bfloat16, torch.float16, torch.float64)
# The compiled NLM's patch distances are int32: they fit while template^2 * 255^2 * 2 does.
MAX_TEMPLATE_INT32 = 127
MAX_VARIANTS = 8  # csrc/common/ucfast/variants_args.h: the original and up to 7 denoisers


def _load(name: str):
    try:
        return importlib.import_module(f"ucfast.{name}"), None
    except ImportError as err:
        return None, (f"the compiled module ucfast.{name} is not built or does not load ({err}); reinstall"
                      " ucfast from source (pip install .) with a C++ compiler, CMake and, for CUDA, nvcc")


_cpu, CPU_ERROR = _load("_cpu")
_cuda, CUDA_ERROR = _load("_cuda")


def cuda_devices() -> int:
    """CUDA devices the compiled module sees (0 without a driver or a GPU). Initialises CUDA: call it only
    for CUDA tensors or on request (`ucfast info`), never before a loader forks its workers."""
    return _cuda.device_count() if _cuda is not None else 0


# ---- why a backend cannot run ---------------------------------------------------------------------

def module_reasons(device: torch.device, backend: str) -> list[str]:
    """Why `backend`'s module cannot run on `device` (read at call time, so tests can simulate a missing build)."""
    module_error = CPU_ERROR if backend == "cpu" else CUDA_ERROR
    if module_error is not None:
        return [module_error]
    if backend == "cpu" and device.type != "cpu":
        return [f"the input is on {device}; the cpu backend runs on CPU tensors"]
    if backend == "cuda":
        if device.type != "cuda":
            return [f"the input is on {device}, not on a CUDA device"]
        if cuda_devices() == 0:
            info = _cuda.build_info()
            return [f"ucfast._cuda sees no CUDA device (its CUDA runtime {info['runtime_version']} needs a driver"
                    f" that supports it; driver version {info['driver_version']})"]
    return []


def pixel_reasons(backend, device, pixels, *rest) -> list[str]:
    why = module_reasons(device, backend)
    if not why and pixels.dtype != torch.uint8:
        why.append(f"pixels must be uint8, got dtype {pixels.dtype}")
    return why


def nlm_reasons(backend, device, pixels, h, h_color, template, search) -> list[str]:
    why = pixel_reasons(backend, device, pixels)
    if isinstance(template, int) and template > MAX_TEMPLATE_INT32:
        why.append(f"template {template} > {MAX_TEMPLATE_INT32} would overflow the int32 patch distances")
    return why


def variants_reasons(backend, device, images, names, amplify, mean, std, dtype, channels_last):
    why = module_reasons(device, backend)
    if not why and images.dtype != torch.uint8 and not images.dtype.is_floating_point:
        why.append(f"images must be uint8 or floating point, got dtype {images.dtype}")
    if not why and dtype not in MODEL_DTYPES:
        why.append(f"unsupported model dtype {dtype}; supported: {', '.join(str(d) for d in MODEL_DTYPES)}")
    if not why and len(names) + 1 > MAX_VARIANTS:
        why.append(f"at most {MAX_VARIANTS - 1} denoisers per call, got {len(names)}")
    return why


def susceptibility_reasons(backend, device, logits, num_variants, space, distance):
    why = module_reasons(device, backend)
    if not why and not logits.dtype.is_floating_point:
        why.append(f"logits must be floating point, got dtype {logits.dtype}")
    if not why and backend == "cuda" and logits.dtype not in (torch.float32, torch.bfloat16, torch.float16):
        why.append(f"unsupported logits dtype {logits.dtype} (float32, bfloat16 or float16)")
    return why


REASONS = {"median": pixel_reasons, "median_kxk": pixel_reasons, "nlm": nlm_reasons, "bitdepth": pixel_reasons,
           "variants": variants_reasons, "susceptibility": susceptibility_reasons}


# ---- argument packing shared by both modules ------------------------------------------------------

def nlm_args(pixels, h, h_color, template, search):
    """Keyword arguments of the compiled nlm functions other than the pixels, sizes and device, and the
    tensors the caller must hold while the kernel runs."""
    check_nlm_args(h, h_color, template, search)
    device = pixels.device
    weights = nlm_tables(float(h), float(h_color), template, search, device)
    border = template // 2 + search // 2
    _, _, height, width = pixels.shape
    rows, cols = border_map("reflect101", height, border, device), border_map("reflect101", width, border, device)
    lab = lab_tables(device)
    keep = (weights.light, weights.ab, rows, cols) + tuple(lab)
    args = dict(lab_tables=[t.data_ptr() for t in lab], weights_l=weights.light.data_ptr(),
                len_l=weights.light.numel(), weights_ab=weights.ab.data_ptr(), len_ab=weights.ab.numel(),
                shift=weights.shift, template_size=template, search_size=search, rows=rows.data_ptr(),
                cols=cols.data_ptr())
    return args, keep


def variants_output(images, names, dtype, channels_last):
    b, _, h, w = images.shape
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    return torch.empty(((1 + len(names)) * b, 3, h, w), dtype=dtype, device=images.device, memory_format=fmt)


def unit_input(images: torch.Tensor) -> torch.Tensor:
    """images as the kernels read them: uint8, or float32 (other float dtypes as .float() gives them)."""
    return images if images.dtype in (torch.uint8, torch.float32) else images.float()


def register(backend: str, implementations: dict) -> None:
    """Register `backend`'s implementation of every op in `implementations` ({op: fn}) with its reasons."""
    from . import backends

    for op, fn in implementations.items():
        backends.register(op, backend, fn, lambda device, *args, op=op: REASONS[op](backend, device, *args),
                          lambda device: module_reasons(device, backend))


def build_info() -> dict:
    """What was built: {"cpu": info or None, "cuda": info or None, "cpu_error"/"cuda_error": why not}."""
    info = {"cpu": _cpu.build_info() if _cpu is not None else None,
            "cuda": _cuda.build_info() if _cuda is not None else None}
    if CPU_ERROR:
        info["cpu_error"] = CPU_ERROR
    if CUDA_ERROR:
        info["cuda_error"] = CUDA_ERROR
    return info
