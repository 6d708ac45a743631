"""Every op of `torch.ops.ucfast` on every backend that can run on this CPU (the compiled `cpu` and
the `torch` reference), 256 images of 32 x 32, after a gate that the outputs equal the reference's
(exactly for pixels, to float tolerance for normalised inputs and scores). The median also runs
against its oracle, scipy's median_filter per image. NLM against OpenCV is bench/bench_cpu.py.

    python -m pytest bench/bench_ops.py -s --benchmark-json bench/results/ops_cpu.json
"""
import os

import pytest
import torch

from tests import images as timg
from tests.oracles import per_image, scipy_median
from ucfast import ops

N, SIZE, K = 256, 32, 10
MEAN, STD = [0.5, 0.5, 0.5], [0.25, 0.25, 0.25]
PIXELS = torch.cat([timg.make("real", N // 2, SIZE, SIZE, seed=1), timg.make("smoothed", N // 2, SIZE, SIZE, seed=2)])
LOGITS = torch.randn(3 * N, K, generator=torch.Generator().manual_seed(0)) * 3

# op -> (call with a backend name, exact equality of the outputs)
CASES = {
    "median": (lambda backend: ops.median(PIXELS, backend), True),
    "median_kxk": (lambda backend: ops.median_kxk(PIXELS, 3, backend), True),
    "bitdepth": (lambda backend: ops.bitdepth(PIXELS, 4, backend), True),
    "variants": (lambda backend: ops.variants(PIXELS, "median,bitdepth", 1.0, MEAN, STD, torch.float32, False,
                                              backend), False),
    "susceptibility": (lambda backend: ops.susceptibility(LOGITS, 3, "softmax", "l1", backend), False),
}


def _same(got, want, exact: bool) -> bool:
    if isinstance(got, tuple):
        return all(_same(g, w, exact) for g, w in zip(got, want))
    if exact or not got.is_floating_point():
        return torch.equal(got, want)
    return torch.allclose(got, want, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("backend", ["cpu", "torch"])
@pytest.mark.parametrize("op", sorted(CASES))
def test_op(benchmark, op, backend):
    call, exact = CASES[op]
    assert _same(call(backend), call("torch"), exact), f"correctness gate: {op} on {backend} differs from torch"
    load_before = os.getloadavg()[0]
    benchmark.pedantic(call, args=(backend,), rounds=5, iterations=1, warmup_rounds=1)
    seconds = benchmark.stats.stats.median
    benchmark.extra_info.update({"op": op, "backend": backend, "images": N, "size": SIZE,
                                 "images_per_s": N / seconds, "threads": torch.get_num_threads(),
                                 "load_average_before": load_before, "load_average_after": os.getloadavg()[0]})
    print(f"\n{op} on {backend}: {N / seconds:,.0f} img/s")


def test_median_oracle(benchmark):
    want = ops.median(PIXELS, "cpu")
    assert torch.equal(per_image(scipy_median, PIXELS), want), "correctness gate: scipy differs from ucfast"
    benchmark.pedantic(per_image, args=(scipy_median, PIXELS), rounds=5, iterations=1, warmup_rounds=1)
    seconds = benchmark.stats.stats.median
    benchmark.extra_info.update({"op": "median", "backend": "scipy (per image)", "images": N, "size": SIZE,
                                 "images_per_s": N / seconds})
    print(f"\nmedian on scipy, per image: {N / seconds:,.0f} img/s")
