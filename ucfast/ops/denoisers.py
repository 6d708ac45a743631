"""The one denoiser specification: names, UltraClean parameters, validation and lookup tables.

Every backend (the torch reference, the compiled cpu and cuda modules, the Triton kernels) reads
the denoisers' names, their default parameters and their tables from here, so that a parameter or
a table has one definition. The tables are built from the readable reference (ucfast/reference/)
once per device and cached.

    median     scipy median_filter(size=(2, 2, 3), mode="reflect"), no parameters
    nlm        cv2.fastNlMeansDenoisingColored(img, None, h, h_color, template, search)
    bitdepth   round(x * (levels - 1)) / (levels - 1) on 8-bit pixels
"""
from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from functools import lru_cache
from typing import NamedTuple

import torch

INT_MAX = 2**31 - 1
DENOISERS = ("median", "nlm", "bitdepth")


@dataclass(frozen=True)
class NlmParams:
    """fastNlMeansDenoisingColored's h (L plane), hColor (ab planes), template and search window sizes."""

    h: float = 5.0
    h_color: float = 5.0
    template: int = 7
    search: int = 13

    def astuple(self) -> tuple[float, float, int, int]:
        return (self.h, self.h_color, self.template, self.search)


NLM = NlmParams()  # the authors' parameters, used inside the variants op
BITDEPTH_LEVELS = 4  # the authors' colour depth (their 'bitdepth' check, logged, not scored)


def check_nlm_args(h, h_color, template, search) -> None:
    """The one validation of NLM parameters, shared by every backend.

    h, h_color: positive finite numbers; template, search: positive odd integers (template at most 46340).
    """
    for name, value in (("h", h), ("h_color", h_color)):
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value) or value <= 0:
            raise ValueError(f"{name} must be a positive finite number, got {value!r}")
    for name, value in (("template", template), ("search", search)):
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1 or value % 2 == 0:
            raise ValueError(f"{name} must be a positive odd integer, got {value!r}")
    if template > 46340:
        raise ValueError(f"template must be at most 46340 (template^2 must fit an int), got {template!r}")
    if search * search * 255 > INT_MAX:
        raise ValueError(f"search must be at most 2901 (search^2 * 255 must fit an int), got {search!r}")


def check_levels(levels) -> None:
    """bitdepth's number of levels per channel: an integer in 2..256."""
    if isinstance(levels, bool) or not isinstance(levels, numbers.Integral) or not 2 <= levels <= 256:
        raise ValueError(f"levels must be an integer in 2..256, got {levels!r}")


def check_kernel_size(k) -> None:
    """The per-channel k x k median's size: a positive odd integer."""
    if isinstance(k, bool) or not isinstance(k, numbers.Integral) or k < 1 or k % 2 == 0:
        raise ValueError(f"k must be a positive odd integer, got {k!r}")


def check_denoisers(denoisers) -> tuple[str, ...]:
    """A denoiser name or names -> the tuple of names, checked (known, at least one, no repeats)."""
    if isinstance(denoisers, str):
        denoisers = tuple(n for n in denoisers.split(",") if n) if "," in denoisers else (denoisers,)
    try:
        denoisers = tuple(denoisers)
    except TypeError:
        raise TypeError(f"denoisers must be a name or a sequence of names from {DENOISERS},"
                        f" got {type(denoisers).__name__}") from None
    if not denoisers:
        raise ValueError(f"denoisers must name at least one of {DENOISERS}, got an empty sequence")
    for name in denoisers:
        if name not in DENOISERS:
            raise ValueError(f"unknown denoiser {name!r} in denoisers; expected names from {DENOISERS}")
    if len(set(denoisers)) != len(denoisers):
        raise ValueError(f"denoisers must not repeat a name, got {denoisers}")
    return denoisers


def denoise(name: str, pixels: torch.Tensor, median, nlm, bitdepth) -> torch.Tensor:
    """The named denoiser with its UltraClean parameters, through one backend's `median(pixels)`,
    `nlm(pixels, h, h_color, template, search)` and `bitdepth(pixels, levels)`."""
    if name == "median":
        return median(pixels)
    if name == "nlm":
        return nlm(pixels, *NLM.astuple())
    if name == "bitdepth":
        return bitdepth(pixels, BITDEPTH_LEVELS)
    raise ValueError(f"unknown denoiser {name!r}; expected one of {DENOISERS}")


# ---- lookup tables, built once per device from the references -------------------------------------

class LabTables(NamedTuple):
    """OpenCV's integer Lab conversion tables, int32, in the order of csrc/common/ucfast/lab.h."""

    cbrt: torch.Tensor  # [3072] cube root of the gamma-corrected XYZ, fixed point
    fwd: torch.Tensor  # [9] RGB -> XYZ matrix, row-major
    inv: torch.Tensor  # [9] XYZ -> RGB matrix, row-major
    y: torch.Tensor  # [256] L -> Y
    fy: torch.Tensor  # [256] L -> f(Y)
    xz: torch.Tensor  # [9216] ab -> XZ


@lru_cache(maxsize=None)
def lab_tables(device: torch.device) -> LabTables:
    from ..reference import lab

    y, fy = lab.l_to_y_f_tables()
    tables = (lab.cbrt_table(), lab.forward_matrix().flatten(), lab.inverse_matrix().flatten(), y, fy,
              lab.ab_to_xz_table())
    return LabTables(*(t.to(device=device, dtype=torch.int32).contiguous() for t in tables))


class NlmTables(NamedTuple):
    """The weight tables of the L plane (h, 1 channel) and the ab planes (h_color, 2 channels), each cut
    after its last non-zero entry and ended by one zero: weights fall with the distance, so
    table[min(D >> shift, len - 1)] is the reference's table[D >> shift]."""

    light: torch.Tensor  # [len_l] int32
    ab: torch.Tensor  # [len_ab] int32
    shift: int


def _truncated(table: torch.Tensor) -> torch.Tensor:
    nonzero = torch.nonzero(table).flatten()
    end = int(nonzero[-1]) + 1 if nonzero.numel() else 0
    return torch.cat([table[:end], table.new_zeros(1)]).contiguous()


@lru_cache(maxsize=32)
def nlm_tables(h: float, h_color: float, template: int, search: int, device: torch.device) -> NlmTables:
    from ..reference.nlm import nlm_weights

    light, shift, _ = nlm_weights(float(h), 1, template, search)
    ab, _, _ = nlm_weights(float(h_color), 2, template, search)
    return NlmTables(_truncated(light).to(device), _truncated(ab).to(device), shift)


@lru_cache(maxsize=64)
def border_map(kind: str, n: int, before: int, device: torch.device) -> torch.Tensor:
    """Source index of each position of an axis of length n extended by `before` on both sides, int32;
    kind "reflect101" (OpenCV's NLM) or "symmetric" (scipy's "reflect", the medians)."""
    from ..reference.borders import reflect101_index, symmetric_index

    index = reflect101_index if kind == "reflect101" else symmetric_index
    return index(n, before, before).to(device=device, dtype=torch.int32)


@lru_cache(maxsize=None)
def bitdepth_table(levels: int, device: torch.device) -> torch.Tensor:
    """The colour-depth reduction of every uint8 value. [256] uint8."""
    from ..reference.bitdepth import bitdepth

    return bitdepth(torch.arange(256, dtype=torch.uint8), levels).to(device)
