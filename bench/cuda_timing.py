"""Timing helpers of the GPU benchmarks (bench_cuda.py, bench_triton.py): CUDA events, synchronised rounds."""
import statistics

import torch


def seconds(fn, reps: int, rounds: int) -> list[float]:
    """Seconds per call of `fn`: one sample per round, the mean over `reps` back-to-back calls (CUDA events)."""
    fn()
    torch.cuda.synchronize()
    out = []
    for _ in range(rounds):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        for _ in range(reps):
            fn()
        end.record()
        end.synchronize()
        out.append(start.elapsed_time(end) / 1e3 / reps)
    return out


def benchmark_seconds(benchmark, fn, reps: int, rounds: int) -> float:
    """pytest-benchmark rounds of `reps` calls each, synchronised per round; median seconds per call."""
    def run():
        for _ in range(reps):
            fn()
        torch.cuda.synchronize()

    benchmark.pedantic(run, rounds=rounds, iterations=1, warmup_rounds=1)
    return benchmark.stats.stats.median / reps


def copy_bytes_per_second() -> float:
    """Device-to-device copy of 1 GiB: bytes read plus bytes written per second."""
    src = torch.empty(1 << 30, dtype=torch.uint8, device="cuda")
    dst = torch.empty_like(src)
    return 2 * src.numel() / statistics.median(seconds(lambda: dst.copy_(src), reps=10, rounds=5))
