"""The Triton kernels on one GPU against the PyTorch reference backend, in the same run (skipped without a GPU).

    python -m pytest bench/bench_triton.py -s --benchmark-json bench/results/triton_gpu.json

bench/gpu/run.py runs this after building and testing, and records the device, versions and commit.
Bars of issue 4 (one H100): the variants kernel (median + NLM, bf16 output) at >= 20,000 images/s at
224 x 224 and >= 400,000 at 32 x 32; the susceptibility kernel (bf16 logits, B = 65,536, K = 1,000,
three variants) at >= 80% of the GPU's memory bandwidth, the peak taken from the device properties
and, for comparison, from a device-to-device copy timed in the same run. Each entry stores its bar,
the reference's time and the speed-up in extra_info. A correctness gate on the same inputs runs
before any timing: a red gate fails the entry and reports no number.

The kernels are timed through their launchers with preallocated outputs (ucfast.kernels.*), the
reference through the functions that backend="torch" runs (ucfast.reference.*). NLM's cost does not
depend on the pixel values, so the images are uniform noise from a seeded generator.
"""
import statistics

import pytest
import torch

import cuda_timing as timing
from ucfast.reference import median as ref_median
from ucfast.reference import nlm as ref_nlm
from ucfast.reference import susceptibility as ref_susceptibility
from ucfast.reference import variants as ref_variants

triton = pytest.importorskip("triton")
from ucfast.kernels import susceptibility as ts  # noqa: E402  (after the skip: needs Triton)
from ucfast.kernels import variants as tv  # noqa: E402

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")

DEVICE = "cuda"
MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
DENOISERS = ("median", "nlm")
GATE_IMAGES = 8


def _spread(samples: list[float]) -> float:
    """Interquartile range relative to the median."""
    q = statistics.quantiles(samples, n=4)
    return (q[2] - q[0]) / statistics.median(samples)


def _bar(metric: str, value: float, threshold: float) -> dict:
    return {"metric": metric, "value": value, "threshold": threshold, "meets": value >= threshold}


def _gate_variants(images: torch.Tensor) -> None:
    """Denoised pixels bit for bit and the bf16 model input within tolerance, against the reference."""
    n, _, h, w = images.shape
    pixels = torch.full((len(DENOISERS), n, 3, h, w), 77, dtype=torch.uint8, device=images.device)
    got = tv.variants(images, DENOISERS, 1.0, MEAN, STD, torch.bfloat16, pixels=pixels)
    assert torch.equal(pixels[0], ref_median.median(images)), "gate: median pixels differ from the reference"
    assert torch.equal(pixels[1], ref_nlm.nlm(images)), "gate: NLM pixels differ from the reference"
    want = ref_variants.variants(images, DENOISERS, 1.0, MEAN, STD, torch.bfloat16)
    torch.testing.assert_close(got.float(), want.float(), rtol=1.6e-2, atol=1e-2)


@pytest.mark.parametrize("size,batch,bar", [(224, 256, 20_000), (32, 16_384, 400_000)], ids=["224x224", "32x32"])
def test_variants_images_per_second(benchmark, size, batch, bar):
    gen = torch.Generator(device=DEVICE).manual_seed(0)
    images = torch.randint(0, 256, (batch, 3, size, size), dtype=torch.uint8, device=DEVICE, generator=gen)
    out = torch.empty((1 + len(DENOISERS)) * batch, 3, size, size, dtype=torch.bfloat16, device=DEVICE)

    def run():
        tv.variants(images, DENOISERS, 1.0, MEAN, STD, torch.bfloat16, out=out)

    run()  # the autotuner keys on the tile, not the batch: let it choose on the full batch, before the gate
    _gate_variants(images[:GATE_IMAGES])
    seconds = timing.benchmark_seconds(benchmark, run, reps=5, rounds=10)
    reference = timing.seconds(lambda: ref_variants.variants(images, DENOISERS, 1.0, MEAN, STD, torch.bfloat16),
                         reps=1, rounds=3)
    rate, ref_rate = batch / seconds, batch / statistics.median(reference)
    benchmark.extra_info.update({
        "op": "variants", "denoisers": list(DENOISERS), "size": size, "batch": batch, "dtype": "bfloat16",
        "images_per_s": rate, "spread": _spread(benchmark.stats.stats.data),
        "reference_images_per_s": ref_rate, "speedup": rate / ref_rate,
        "bar": _bar("images_per_s", rate, bar),
    })
    print(f"\nvariants {size}x{size} median+nlm bf16: {rate:,.0f} images/s (bar {bar:,}), reference"
          f" {ref_rate:,.0f} images/s, speed-up {rate / ref_rate:.1f}x")


def _peak_bytes_per_second(copy: float) -> tuple[float, str]:
    """(peak, source): the DRAM bandwidth from the device properties (memory clock x bus width x 2),
    or the copy's where the driver reports no memory clock."""
    peak = triton.testing.get_dram_gbps() * 1e9
    return (peak, "device properties") if peak > 0 else (copy, "device-to-device copy")


@pytest.mark.parametrize("b,k,v", [(65_536, 1_000, 3)], ids=["B65536-K1000-V3"])
def test_susceptibility_bandwidth(benchmark, b, k, v):
    gen = torch.Generator(device=DEVICE).manual_seed(0)
    logits = (torch.randn(v * b, k, device=DEVICE, generator=gen) * 4).to(torch.bfloat16)
    out = (torch.full((b,), float("nan"), device=DEVICE), torch.full((v - 1, b), float("nan"), device=DEVICE),
           torch.full((b,), -1, dtype=torch.int64, device=DEVICE))
    got = ts.susceptibility(logits, v, "softmax", "l1", out=out)
    want = ref_susceptibility.susceptibility(logits, v, "softmax", "l1")
    for g, w in zip(got[:2], want[:2]):
        torch.testing.assert_close(g, w, rtol=2e-4, atol=2e-5)
    assert torch.equal(got[2], want[2]), "gate: predictions differ from the reference"

    seconds = timing.benchmark_seconds(benchmark, lambda: ts.susceptibility(logits, v, "softmax", "l1", out=out),
                         reps=50, rounds=10)
    reference = timing.seconds(lambda: ref_susceptibility.susceptibility(logits, v, "softmax", "l1"), reps=1, rounds=3)
    moved = logits.numel() * logits.element_size() + sum(t.numel() * t.element_size() for t in out)
    achieved = moved / seconds
    copy = timing.copy_bytes_per_second()
    peak, peak_source = _peak_bytes_per_second(copy)
    benchmark.extra_info.update({
        "op": "susceptibility", "batch": b, "classes": k, "variants": v, "dtype": "bfloat16", "space": "softmax",
        "distance": "l1", "bytes": moved, "bytes_per_s": achieved, "spread": _spread(benchmark.stats.stats.data),
        "peak_bytes_per_s": peak, "peak_source": peak_source, "copy_bytes_per_s": copy,
        "fraction_of_copy": achieved / copy,
        "reference_s": statistics.median(reference), "speedup": statistics.median(reference) / seconds,
        "bar": _bar("fraction_of_peak", achieved / peak, 0.8),
    })
    print(f"\nsusceptibility bf16 B={b} K={k}: {achieved / 1e9:,.0f} GB/s = {achieved / peak:.0%} of the"
          f" {peak / 1e9:,.0f} GB/s peak ({achieved / copy:.0%} of a copy's {copy / 1e9:,.0f} GB/s), speed-up"
          f" {statistics.median(reference) / seconds:.1f}x over the reference")
