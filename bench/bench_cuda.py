"""The CUDA variants kernel (backend "cuda") against the Triton one, same GPU, same run, images/s
at 224 x 224 and 32 x 32 (median and NLM variants plus the original, normalised float32 model input).

Skips without a CUDA GPU, without ucfast._cuda, or without Triton. Each round times Triton in
pytest-benchmark's untimed setup, then CUDA, so the two sides interleave. Both are first checked
against the reference on the same GPU: CUDA bit for bit, Triton within float32 rounding.

    python -m pytest bench/bench_cuda.py -s --benchmark-json bench/results/variants_cuda.json
"""
import time

import pytest
import torch

from tests import images as timg
from ucfast import compiled, ops
from ucfast.kernels.runtime import triton_import_error
from ucfast.reference import variants as ref_variants

pytestmark = [
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU"),
    pytest.mark.skipif(compiled.CUDA_ERROR is not None, reason=f"{compiled.CUDA_ERROR}"),
    pytest.mark.skipif(triton_import_error() is not None, reason=f"Triton: {triton_import_error()}"),
]

MEAN, STD = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]
BATCH = {224: 256, 32: 4096}  # image size -> images per call
REPS = 10  # calls per timed round
ROUNDS = 7
CHECKED = 4  # images compared with the reference


def _variants(x, backend):
    return ops.variants(x, "median,nlm", 1.0, MEAN, STD, torch.float32, False, backend)


@pytest.mark.parametrize("size", sorted(BATCH, reverse=True))
def test_cuda_variants_vs_triton(benchmark, size):
    n = BATCH[size]
    x = torch.cat([timg.make("real", n // 2, size, size, seed=1),
                   timg.make("smoothed", n - n // 2, size, size, seed=2)]).cuda()
    head = x[:CHECKED]
    want = ref_variants.variants(head, ("median", "nlm"), 1.0, tuple(MEAN), tuple(STD))
    assert torch.equal(_variants(head, "cuda"), want), "correctness gate: CUDA variants differ from the reference"
    torch.testing.assert_close(_variants(head, "triton"), want, rtol=1e-5, atol=1e-5)

    def run(backend):
        for _ in range(REPS):
            _variants(x, backend)
        torch.cuda.synchronize()

    triton_s = []

    def time_triton():  # the untimed setup of each round
        torch.cuda.synchronize()
        start = time.perf_counter()
        run("triton")
        triton_s.append((time.perf_counter() - start) / REPS)

    benchmark.pedantic(lambda: run("cuda"), setup=time_triton, rounds=ROUNDS, iterations=1, warmup_rounds=1)
    cuda_s = benchmark.stats.stats.median / REPS
    triton_med = sorted(triton_s[-ROUNDS:])[ROUNDS // 2]
    benchmark.extra_info.update({
        "size": size, "images": n, "gpu": torch.cuda.get_device_name(), "cuda_images_per_s": n / cuda_s,
        "triton_images_per_s": n / triton_med, "cuda_over_triton": triton_med / cuda_s,
        "archs": compiled.build_info()["cuda"]["archs"],
    })
    print(f"\nvariants {size}x{size} on {torch.cuda.get_device_name()}: cuda {n / cuda_s:,.0f} img/s,"
          f" triton {n / triton_med:,.0f} img/s, cuda/triton {triton_med / cuda_s:.2f}x")
