"""The `torch` backend: the readable references of ucfast/reference/, runnable on any device."""
from __future__ import annotations

from . import backends
from .reference import bitdepth, median, susceptibility, variants


def _nlm(pixels, h, h_color, template, search):
    from .reference.nlm import nlm

    return nlm(pixels, h, h_color, template, search)


backends.register("median", "torch", median.median)
backends.register("median_kxk", "torch", median.median_kxk)
backends.register("nlm", "torch", _nlm)
backends.register("bitdepth", "torch", bitdepth.bitdepth)
backends.register("variants", "torch", variants.variants)
backends.register("susceptibility", "torch", susceptibility.susceptibility)
