"""The `torch` backend: the readable references of ucfast/reference/, runnable on any device."""
from __future__ import annotations

from . import backends
from ..reference import bitdepth, median, nlm, susceptibility, variants

backends.register("median", "torch", median.median)
backends.register("median_kxk", "torch", median.median_kxk)
backends.register("nlm", "torch", nlm.nlm)
backends.register("bitdepth", "torch", bitdepth.bitdepth)
backends.register("variants", "torch", variants.variants)
backends.register("susceptibility", "torch", susceptibility.susceptibility)
