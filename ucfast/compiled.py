"""The compiled backends: `cpu` (ucfast._cpu, C++17 + OpenMP) and `cuda` (ucfast._cuda).

Both modules are built by CMakeLists.txt; either may be missing, and then every op's reasons say
why. The modules take raw pointers, sizes, element strides and a CUDA stream; this file owns the
torch side: it checks tensors, allocates outputs, and builds every lookup table from the
references (ucfast/reference/: Lab tables, NLM weights, border maps, the bit-depth table), so
each table has one construction, shared by every backend.
"""
from __future__ import annotations

import importlib
import inspect
from functools import lru_cache

import torch

from . import backends
from .images import to_uint8
from .reference import lab
from .reference.bitdepth import bitdepth as reference_bitdepth
from .reference.borders import reflect101_index, symmetric_index
from .reference.nlm import check_nlm_args, nlm_weights
from .reference.nlm import nlm as reference_nlm
from .reference.susceptibility import DISTANCES, SPACES
from .reference.susceptibility import check_args as check_susceptibility_args
from .reference.variants import DENOISERS

OPS = ("median", "median_kxk", "nlm", "bitdepth", "variants", "susceptibility")
# Element-type codes of csrc/common/ucfast/common.h (enum class DType).
DTYPE_CODES = {torch.uint8: 0, torch.float32: 1, torch.bfloat16: 2, torch.float16: 3, torch.float64: 4}
MODEL_DTYPES = (torch.float32, torch.bfloat16, torch.float16, torch.float64)
# Distances fit an int32 while template^2 * 255^2 * 2 does (OpenCV's int accumulators).
MAX_TEMPLATE = 127


def _load(name: str):
    try:
        return importlib.import_module(f"ucfast.{name}"), None
    except ImportError as err:
        return None, (f"the compiled module ucfast.{name} is not built or does not load ({err}); reinstall"
                      " ucfast from source (pip install .) with a C++ compiler, CMake and, for CUDA, nvcc")


_cpu, CPU_ERROR = _load("_cpu")
_cuda, CUDA_ERROR = _load("_cuda")


def _cuda_devices() -> int:
    """CUDA devices the compiled module sees (0 without a driver or a GPU). Initialises CUDA: call it only
    for CUDA tensors or on request (`ucfast info`), never before a loader forks its workers."""
    return _cuda.device_count() if _cuda is not None else 0


# ---- tables, built once from the references ------------------------------------------------------

@lru_cache(maxsize=None)
def _lab_tables(device: torch.device) -> tuple[torch.Tensor, ...]:
    """OpenCV's Lab tables in the order of csrc/common/ucfast/lab.h (struct LabTables), int32 on `device`."""
    y, fy = lab.l_to_y_f_tables()
    tables = (lab.cbrt_table(), lab.forward_matrix().flatten(), lab.inverse_matrix().flatten(), y, fy,
              lab.ab_to_xz_table())
    return tuple(t.to(device=device, dtype=torch.int32).contiguous() for t in tables)


def _truncated(table: torch.Tensor) -> torch.Tensor:
    """The weight table up to its last non-zero entry, plus one zero: indices past it clamp to that zero."""
    nonzero = torch.nonzero(table).flatten()
    end = int(nonzero[-1]) + 1 if nonzero.numel() else 0
    return torch.cat([table[:end], table.new_zeros(1)])


@lru_cache(maxsize=32)
def _nlm_tables(h: float, h_color: float, template: int, search: int, device: torch.device):
    """(L weights, ab weights, shift) of `nlm_weights`, truncated and on `device`."""
    light, shift, _ = nlm_weights(h, 1, template, search)
    ab, _, _ = nlm_weights(h_color, 2, template, search)
    return _truncated(light).to(device), _truncated(ab).to(device), shift


@lru_cache(maxsize=64)
def _border_map(kind: str, n: int, before: int, device: torch.device) -> torch.Tensor:
    """Source index of each position of an axis of length n extended by `before` on both sides. int32."""
    index = reflect101_index if kind == "reflect101" else symmetric_index
    return index(n, before, before).to(device=device, dtype=torch.int32)


@lru_cache(maxsize=None)
def _bitdepth_table(levels: int, device: torch.device) -> torch.Tensor:
    """The colour-depth reduction of every uint8 value. [256] uint8."""
    return reference_bitdepth(torch.arange(256, dtype=torch.uint8), levels).to(device)


def _defaults(fn, *names):
    parameters = inspect.signature(fn).parameters
    return tuple(parameters[name].default for name in names)


# The denoisers' UltraClean parameters inside the variants op, as the reference uses them.
NLM_DEFAULTS = _defaults(reference_nlm, "h", "h_color", "template", "search")
BITDEPTH_LEVELS = _defaults(reference_bitdepth, "levels")[0]


# ---- why a backend cannot run ---------------------------------------------------------------------

def _module_error(backend: str) -> str | None:
    """Why the module of `backend` did not load (read at call time, so tests can simulate a missing build)."""
    return CPU_ERROR if backend == "cpu" else CUDA_ERROR


def _module_reasons(device: torch.device, backend: str) -> list[str]:
    module_error = _module_error(backend)
    if module_error is not None:
        return [module_error]
    if backend == "cpu" and device.type != "cpu":
        return [f"the input is on {device}; the cpu backend runs on CPU tensors"]
    if backend == "cuda":
        if device.type != "cuda":
            return [f"the input is on {device}, not on a CUDA device"]
        if _cuda_devices() == 0:
            info = _cuda.build_info()
            return [f"ucfast._cuda sees no CUDA device (its CUDA runtime {info['runtime_version']} needs a driver"
                    f" that supports it; driver version {info['driver_version']})"]
    return []


def _pixel_reasons(backend, device, pixels, *rest) -> list[str]:
    why = _module_reasons(device, backend)
    if not why and pixels.dtype != torch.uint8:
        why.append(f"pixels must be uint8, got dtype {pixels.dtype}")
    return why


def _nlm_reasons(backend, device, pixels, h, h_color, template, search) -> list[str]:
    why = _pixel_reasons(backend, device, pixels)
    if isinstance(template, int) and template > MAX_TEMPLATE:
        why.append(f"template {template} > {MAX_TEMPLATE} would overflow the int32 patch distances")
    return why


def _variants_reasons(backend, device, images, names, amplify, mean, std, dtype, channels_last):
    why = _module_reasons(device, backend)
    if not why and images.dtype != torch.uint8 and not images.dtype.is_floating_point:
        why.append(f"images must be uint8 or floating point, got dtype {images.dtype}")
    if not why and dtype not in MODEL_DTYPES:
        why.append(f"unsupported model dtype {dtype}; supported: {', '.join(str(d) for d in MODEL_DTYPES)}")
    if not why and len(names) + 1 > 8:
        why.append(f"at most 7 denoisers per call, got {len(names)}")
    return why


def _susceptibility_reasons(backend, device, logits, num_variants, space, distance):
    why = _module_reasons(device, backend)
    if not why and not logits.dtype.is_floating_point:
        why.append(f"logits must be floating point, got dtype {logits.dtype}")
    if not why and backend == "cuda" and logits.dtype not in (torch.float32, torch.bfloat16, torch.float16):
        why.append(f"unsupported logits dtype {logits.dtype} (float32, bfloat16 or float16)")
    return why


# ---- shared argument handling ---------------------------------------------------------------------

def _threads() -> int:
    return torch.get_num_threads()


def _variants_output(images, names, dtype, channels_last):
    b, _, h, w = images.shape
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    out = torch.empty(((1 + len(names)) * b, 3, h, w), dtype=dtype, device=images.device, memory_format=fmt)
    return out


# ---- the cpu backend ----------------------------------------------------------------------------

def cpu_median(pixels: torch.Tensor) -> torch.Tensor:
    out = torch.empty(pixels.shape, dtype=torch.uint8)
    n, _, h, w = pixels.shape
    _cpu.median(pixels.data_ptr(), pixels.stride(), out.data_ptr(), n, h, w, _threads())
    return out


def cpu_median_kxk(pixels: torch.Tensor, k: int) -> torch.Tensor:
    if k < 1 or k % 2 == 0:
        raise ValueError(f"k must be a positive odd integer, got {k}")
    out = torch.empty(pixels.shape, dtype=torch.uint8)
    n, _, h, w = pixels.shape
    if out.numel():
        rows, cols = _border_map("symmetric", h, k // 2, out.device), _border_map("symmetric", w, k // 2, out.device)
        _cpu.median_kxk(pixels.data_ptr(), pixels.stride(), out.data_ptr(), n, h, w, k, rows.data_ptr(),
                        cols.data_ptr(), _threads())
    return out


def cpu_bitdepth(pixels: torch.Tensor, levels: int) -> torch.Tensor:
    table = _bitdepth_table(levels, pixels.device)
    out = torch.empty(pixels.shape, dtype=torch.uint8)
    n, _, h, w = pixels.shape
    _cpu.lookup(pixels.data_ptr(), pixels.stride(), out.data_ptr(), n, h, w, table.data_ptr(), _threads())
    return out


def _nlm_args(pixels, h, h_color, template, search):
    """Keyword arguments of the compiled nlm functions other than the pixels, sizes and device."""
    check_nlm_args(h, h_color, template, search)
    device = pixels.device
    light, ab, shift = _nlm_tables(float(h), float(h_color), template, search, device)
    border = template // 2 + search // 2
    _, _, height, width = pixels.shape
    rows, cols = _border_map("reflect101", height, border, device), _border_map("reflect101", width, border, device)
    keep = (light, ab, rows, cols) + _lab_tables(device)  # the caller holds these while the kernel runs
    args = dict(lab_tables=[t.data_ptr() for t in _lab_tables(device)], weights_l=light.data_ptr(),
                len_l=light.numel(), weights_ab=ab.data_ptr(), len_ab=ab.numel(), shift=shift,
                template_size=template, search_size=search, rows=rows.data_ptr(), cols=cols.data_ptr())
    return args, keep


def cpu_nlm(pixels, h, h_color, template, search):
    out = torch.empty(pixels.shape, dtype=torch.uint8)
    if out.numel() == 0:
        check_nlm_args(h, h_color, template, search)
        return out
    args, _keep = _nlm_args(pixels, h, h_color, template, search)
    n, _, height, width = pixels.shape
    _cpu.nlm(pixels.data_ptr(), pixels.stride(), out.data_ptr(), n, height, width, threads=_threads(), **args)
    return out


def _denoise(name: str, pixels: torch.Tensor, median, nlm, bitdepth) -> torch.Tensor:
    """One named denoiser with the reference's UltraClean parameters (reference/variants.py `denoise`)."""
    if name == "median":
        return median(pixels)
    if name == "nlm":
        return nlm(pixels, *NLM_DEFAULTS)
    if name == "bitdepth":
        return bitdepth(pixels, BITDEPTH_LEVELS)
    raise ValueError(f"unknown denoiser {name!r}; expected one of {DENOISERS}")


def _unit_input(images: torch.Tensor) -> torch.Tensor:
    """images as the kernels read them: uint8, or float32 (other float dtypes as .float() gives them)."""
    return images if images.dtype in (torch.uint8, torch.float32) else images.float()


def cpu_variants(images, names, amplify, mean, std, dtype, channels_last):
    out = _variants_output(images, names, dtype, channels_last)
    pixels = to_uint8(images).contiguous()
    denoised = [_denoise(name, pixels, cpu_median, cpu_nlm, cpu_bitdepth) for name in names]
    if out.numel() == 0:
        return out
    x = _unit_input(images)
    b, _, h, w = images.shape
    _cpu.variants(x.data_ptr(), DTYPE_CODES[x.dtype], x.stride(), [d.data_ptr() for d in denoised], out.data_ptr(),
                  DTYPE_CODES[dtype], out.stride(), b, h, w, float(amplify), list(mean), list(std), _threads())
    return out


def cpu_susceptibility(logits, num_variants, space, distance):
    b, k = check_susceptibility_args(logits, num_variants, space, distance)
    z = logits.float()
    if z.stride(1) != 1:
        z = z.contiguous()
    total = torch.empty(b, dtype=torch.float32)
    dist = torch.empty(num_variants - 1, b, dtype=torch.float32)
    pred = torch.empty(b, dtype=torch.int64)
    if b:
        _cpu.susceptibility(z.data_ptr(), z.stride(0), num_variants, b, k, SPACES.index(space),
                            DISTANCES.index(distance), total.data_ptr(), dist.data_ptr(), pred.data_ptr(), _threads())
    return total, dist, pred


# ---- the cuda backend ---------------------------------------------------------------------------

def _stream(device: torch.device) -> tuple[int, int]:
    index = device.index if device.index is not None else torch.cuda.current_device()
    return index, torch.cuda.current_stream(index).cuda_stream


def cuda_median(pixels: torch.Tensor) -> torch.Tensor:
    out = torch.empty(pixels.shape, dtype=torch.uint8, device=pixels.device)
    n, _, h, w = pixels.shape
    if out.numel():
        _cuda.median(pixels.data_ptr(), pixels.stride(), out.data_ptr(), n, h, w, *_stream(pixels.device))
    return out


def cuda_median_kxk(pixels: torch.Tensor, k: int) -> torch.Tensor:
    if k < 1 or k % 2 == 0:
        raise ValueError(f"k must be a positive odd integer, got {k}")
    out = torch.empty(pixels.shape, dtype=torch.uint8, device=pixels.device)
    n, _, h, w = pixels.shape
    if out.numel():
        rows, cols = (_border_map("symmetric", size, k // 2, out.device) for size in (h, w))
        _cuda.median_kxk(pixels.data_ptr(), pixels.stride(), out.data_ptr(), n, h, w, k, rows.data_ptr(),
                         cols.data_ptr(), *_stream(pixels.device))
    return out


def cuda_bitdepth(pixels: torch.Tensor, levels: int) -> torch.Tensor:
    out = torch.empty(pixels.shape, dtype=torch.uint8, device=pixels.device)
    n, _, h, w = pixels.shape
    if out.numel():
        table = _bitdepth_table(levels, pixels.device)
        _cuda.lookup(pixels.data_ptr(), pixels.stride(), out.data_ptr(), n, h, w, table.data_ptr(),
                     *_stream(pixels.device))
    return out


def cuda_nlm(pixels, h, h_color, template, search):
    out = torch.empty(pixels.shape, dtype=torch.uint8, device=pixels.device)
    if out.numel() == 0:
        check_nlm_args(h, h_color, template, search)
        return out
    args, _keep = _nlm_args(pixels, h, h_color, template, search)
    scratch = torch.empty_like(out)  # [N, 3, H, W] Lab of the input
    n, _, height, width = pixels.shape
    device, stream = _stream(pixels.device)
    _cuda.nlm(pixels.data_ptr(), pixels.stride(), out.data_ptr(), n, height, width, scratch=scratch.data_ptr(),
              device=device, stream=stream, **args)
    return out


def cuda_variants(images, names, amplify, mean, std, dtype, channels_last):
    out = _variants_output(images, names, dtype, channels_last)
    if out.numel() == 0:
        return out
    pixels = to_uint8(images).contiguous()
    denoised = [_denoise(name, pixels, cuda_median, cuda_nlm, cuda_bitdepth) for name in names]
    x = _unit_input(images)
    b, _, h, w = images.shape
    _cuda.variants(x.data_ptr(), DTYPE_CODES[x.dtype], x.stride(), [d.data_ptr() for d in denoised], out.data_ptr(),
                   DTYPE_CODES[dtype], out.stride(), b, h, w, float(amplify), list(mean), list(std),
                   *_stream(images.device))
    return out


def cuda_susceptibility(logits, num_variants, space, distance):
    b, k = check_susceptibility_args(logits, num_variants, space, distance)
    z = logits if logits.stride(1) == 1 else logits.contiguous()
    total = torch.empty(b, dtype=torch.float32, device=logits.device)
    dist = torch.empty(num_variants - 1, b, dtype=torch.float32, device=logits.device)
    pred = torch.empty(b, dtype=torch.int64, device=logits.device)
    if b:
        _cuda.susceptibility(z.data_ptr(), DTYPE_CODES[z.dtype], z.stride(0), num_variants, b, k, SPACES.index(space),
                             DISTANCES.index(distance), total.data_ptr(), dist.data_ptr(), pred.data_ptr(),
                             *_stream(logits.device))
    return total, dist, pred


# ---- registration ---------------------------------------------------------------------------------

def _reasons(check, backend):
    return lambda device, *args: check(backend, device, *args)


_IMPLEMENTATIONS = {
    "cpu": {"median": cpu_median, "median_kxk": cpu_median_kxk, "nlm": cpu_nlm, "bitdepth": cpu_bitdepth,
            "variants": cpu_variants, "susceptibility": cpu_susceptibility},
    "cuda": {"median": cuda_median, "median_kxk": cuda_median_kxk, "nlm": cuda_nlm, "bitdepth": cuda_bitdepth,
             "variants": cuda_variants, "susceptibility": cuda_susceptibility},
}
_CHECKS = {"median": _pixel_reasons, "median_kxk": _pixel_reasons, "nlm": _nlm_reasons, "bitdepth": _pixel_reasons,
           "variants": _variants_reasons, "susceptibility": _susceptibility_reasons}

for _backend, _fns in _IMPLEMENTATIONS.items():
    for _op, _fn in _fns.items():
        backends.register(_op, _backend, _fn, _reasons(_CHECKS[_op], _backend),
                          lambda device, backend=_backend: _module_reasons(device, backend))


def build_info() -> dict:
    """What was built: {"cpu": info or None, "cuda": info or None, "cpu_error"/"cuda_error": why not}."""
    info = {"cpu": _cpu.build_info() if _cpu is not None else None,
            "cuda": _cuda.build_info() if _cuda is not None else None}
    if CPU_ERROR:
        info["cpu_error"] = CPU_ERROR
    if CUDA_ERROR:
        info["cuda_error"] = CUDA_ERROR
    return info
