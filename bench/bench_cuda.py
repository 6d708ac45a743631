"""The CUDA backend on one GPU: the fused variants op (images/s) and the susceptibility op (share of the memory
bandwidth), each behind a correctness gate on the same inputs; then the variants op against Triton's, same run.

    python -m pytest bench/bench_cuda.py -s --benchmark-json bench/results/gpu/bench_cuda.json
    python -m pytest bench/bench_cuda.py -s -k "not triton"       # the two headline entries only

Skips without a CUDA GPU or without ucfast._cuda (the Triton entry also without Triton). Bars (issue 12, one H200):
variants (median + NLM, bf16 model input) >= 20,000 images/s at 224 x 224 and >= 400,000 at 32 x 32;
susceptibility (bf16 logits, B = 65,536, K = 1,000, three variants) >= 70% of the memory bandwidth, the peak from
the device properties (memory clock x bus width x 2), else from a device-to-device copy timed in the same run.
Each entry stores its bar in extra_info; a red gate fails the entry before any timing.
"""
import statistics

import pytest
import torch

import cuda_timing as timing
from tests import images as timg
from ucfast import compiled, ops
from ucfast.reference import susceptibility as ref_susceptibility
from ucfast.reference import variants as ref_variants

pytestmark = [
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU"),
    pytest.mark.skipif(compiled.CUDA_ERROR is not None, reason=f"{compiled.CUDA_ERROR}"),
]

MEAN, STD = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]
DENOISERS = "median,nlm"
GATE_IMAGES = 4


def _bar(metric: str, value: float, threshold: float) -> dict:
    return {"metric": metric, "value": value, "threshold": threshold, "meets": value >= threshold}


def _variants(x, backend, dtype=torch.bfloat16):
    return ops.variants(x, DENOISERS, 1.0, MEAN, STD, dtype, False, backend)


def _images(n: int, size: int) -> torch.Tensor:
    return torch.cat([timg.make("real", n // 2, size, size, seed=1),
                      timg.make("smoothed", n - n // 2, size, size, seed=2)]).cuda()


@pytest.mark.parametrize("size,batch,bar", [(224, 256, 20_000), (32, 16_384, 400_000)], ids=["224x224", "32x32"])
def test_cuda_variants_images_per_second(benchmark, size, batch, bar):
    x = _images(batch, size)
    head = x[:GATE_IMAGES]
    want = ref_variants.variants(head, tuple(DENOISERS.split(",")), 1.0, tuple(MEAN), tuple(STD), torch.bfloat16)
    assert torch.equal(_variants(head, "cuda"), want), "gate: CUDA variants differ from the reference"
    seconds = timing.benchmark_seconds(benchmark, lambda: _variants(x, "cuda"), reps=5, rounds=10)
    rate = batch / seconds
    benchmark.extra_info.update({
        "op": "variants", "backend": "cuda", "denoisers": DENOISERS, "size": size, "batch": batch,
        "dtype": "bfloat16", "images_per_s": rate, "gpu": torch.cuda.get_device_name(),
        "archs": compiled.build_info()["cuda"]["archs"], "bar": _bar("images_per_s", rate, bar),
    })
    print(f"\ncuda variants {size}x{size} median+nlm bf16: {rate:,.0f} images/s (bar {bar:,})")


def _peak_bytes_per_second(copy: float) -> tuple[float, str]:
    """(peak, source): memory clock x bus width x 2 from the device properties where torch or Triton reports
    them, else the device-to-device copy's rate."""
    props = torch.cuda.get_device_properties(0)
    clock_khz, bus_bits = getattr(props, "memory_clock_rate", 0), getattr(props, "memory_bus_width", 0)
    if clock_khz and bus_bits:
        return clock_khz * 1e3 * bus_bits / 8 * 2, "device properties"
    try:
        import triton.testing

        peak = triton.testing.get_dram_gbps() * 1e9
    except Exception:  # noqa: BLE001  (no Triton, or no NVML behind it)
        peak = 0.0
    return (peak, "triton.testing.get_dram_gbps") if peak > 0 else (copy, "device-to-device copy")


@pytest.mark.parametrize("b,k,v", [(65_536, 1_000, 3), (65_536, 10, 3)], ids=["B65536-K1000-V3", "B65536-K10-V3"])
def test_cuda_susceptibility_bandwidth(benchmark, b, k, v):
    gen = torch.Generator(device="cuda").manual_seed(0)
    logits = (torch.randn(v * b, k, device="cuda", generator=gen) * 4).to(torch.bfloat16)
    got = ops.susceptibility(logits, v, "softmax", "l1", "cuda")
    want = ref_susceptibility.susceptibility(logits, v, "softmax", "l1")
    for g, w in zip(got[:2], want[:2]):
        torch.testing.assert_close(g, w, rtol=2e-4, atol=2e-5)
    assert torch.equal(got[2], want[2]), "gate: predictions differ from the reference"

    seconds = timing.benchmark_seconds(benchmark, lambda: ops.susceptibility(logits, v, "softmax", "l1", "cuda"), reps=50, rounds=10)
    moved = logits.numel() * logits.element_size() + sum(t.numel() * t.element_size() for t in got)
    achieved = moved / seconds
    copy = timing.copy_bytes_per_second()
    peak, source = _peak_bytes_per_second(copy)
    info = {"op": "susceptibility", "backend": "cuda", "batch": b, "classes": k, "variants": v, "dtype": "bfloat16",
            "bytes": moved, "bytes_per_s": achieved, "peak_bytes_per_s": peak, "peak_source": source,
            "copy_bytes_per_s": copy, "fraction_of_peak": achieved / peak, "fraction_of_copy": achieved / copy}
    if k == 1_000:
        info["bar"] = _bar("fraction_of_peak", achieved / peak, 0.7)
    benchmark.extra_info.update(info)
    print(f"\ncuda susceptibility bf16 B={b} K={k}: {achieved / 1e9:,.0f} GB/s = {achieved / peak:.0%} of the"
          f" {peak / 1e9:,.0f} GB/s peak ({source}), {achieved / copy:.0%} of a copy")


@pytest.mark.parametrize("size,batch", [(224, 256), (32, 4096)], ids=["224x224", "32x32"])
def test_cuda_variants_vs_triton(benchmark, size, batch):
    from ucfast.kernels.runtime import triton_import_error

    if triton_import_error() is not None:
        pytest.skip(f"Triton: {triton_import_error()}")
    x = _images(batch, size)
    head = x[:GATE_IMAGES]
    want = ref_variants.variants(head, tuple(DENOISERS.split(",")), 1.0, tuple(MEAN), tuple(STD), torch.float32)
    assert torch.equal(_variants(head, "cuda", torch.float32), want), "gate: CUDA variants differ from the reference"
    torch.testing.assert_close(_variants(head, "triton", torch.float32), want, rtol=1e-5, atol=1e-5)
    triton_s = statistics.median(timing.seconds(lambda: _variants(x, "triton", torch.float32), reps=5, rounds=5))
    cuda_s = timing.benchmark_seconds(benchmark, lambda: _variants(x, "cuda", torch.float32), reps=5, rounds=5)
    benchmark.extra_info.update({"op": "variants", "size": size, "batch": batch, "dtype": "float32",
                                 "cuda_images_per_s": batch / cuda_s, "triton_images_per_s": batch / triton_s,
                                 "cuda_over_triton": triton_s / cuda_s})
    print(f"\nvariants {size}x{size} float32: cuda {batch / cuda_s:,.0f} img/s, triton {batch / triton_s:,.0f} img/s,"
          f" cuda/triton {triton_s / cuda_s:.2f}x")
