"""`ucfast.score` against the authors' per-sample loop (scipy median, OpenCV NLM, three batch-1
forwards per image) on the same small CNN and the same 32 x 32 images, on this machine's CPU.

    python -m pytest bench/bench_score.py --benchmark-json bench/results/score_cpu.json -s
"""
import time

import numpy as np
import pytest
import scipy.stats
import torch

import ucfast
from tests import images as timg
from tests.oracles import authors_scores

MEAN, STD = (0.5, 0.5, 0.5), (0.25, 0.25, 0.25)
N = 256
ROUNDS = 3  # both sides: the median of this many timed runs


@pytest.fixture(scope="module")
def setup():
    torch.manual_seed(0)
    model = ucfast.models.build("cnn", 10).eval()
    x = torch.cat([timg.make("real", N // 2, 32, 32, seed=1), timg.make("smoothed", N // 2, 32, 32, seed=2)])
    return model, x, torch.zeros(N, dtype=torch.int64)


@pytest.mark.parametrize("backend", ["auto", "torch"])
def test_score_vs_authors_loop(benchmark, setup, backend):
    model, x, y = setup
    loader = [(x[i:i + 128], y[i:i + 128]) for i in range(0, N, 128)]

    def ours():
        return ucfast.score(loader, model, mean=MEAN, std=STD, backend=backend, progress=False)

    authors_times = []
    for _ in range(ROUNDS):
        start = time.perf_counter()
        want, _ = authors_scores(x, model, MEAN, STD)
        authors_times.append(time.perf_counter() - start)
    authors_s = float(np.median(authors_times))
    got = ours()
    rho = scipy.stats.spearmanr(got.total, want).statistic
    assert rho >= 0.9999, f"correctness gate: Spearman {rho:.6f} < 0.9999"
    np.testing.assert_allclose(got.total, want, rtol=1e-4, atol=1e-6)

    benchmark.pedantic(ours, rounds=ROUNDS, iterations=1, warmup_rounds=1)
    ours_s = benchmark.stats.stats.median
    benchmark.extra_info.update({
        "images": N, "authors_s": authors_s, "ours_median_s": ours_s, "speedup": authors_s / ours_s,
        "backend": backend, "threads": torch.get_num_threads(), "spearman": rho,
    })
    print(f"\nscore backend={backend}: {N / ours_s:.0f} img/s, authors' loop {N / authors_s:.0f} img/s,"
          f" speed-up {authors_s / ours_s:.2f}x")
