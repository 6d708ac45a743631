"""The compiled CPU NLM (backend "cpu") against cv2.fastNlMeansDenoisingColored on the same images and
the same number of threads, 32 x 32 and 224 x 224, bit-exact (the equality is asserted first).

OpenCV runs two ways, both timed: the authors' per-image loop with cv2.setNumThreads(threads), and a
pool of `threads` Python threads with one image each and cv2.setNumThreads(1) (OpenCV releases the
GIL), the faster use of OpenCV on small images. The rounds interleave OpenCV and ucfast (OpenCV runs
in pytest-benchmark's untimed setup of each round), so a change in machine load hits both sides.

    python -m pytest bench/bench_cpu.py -s --benchmark-json bench/results/nlm_cpu.json

The score bar (ucfast.score on the cpu backend against the authors' per-sample loop) is
bench/bench_score.py.
"""
import os
import time
from concurrent.futures import ThreadPoolExecutor

import cv2
import numpy as np
import pytest
import torch

import ucfast
from tests import images as timg
from tests.oracles import opencv_nlm, per_image

ROUNDS = 5
IMAGES = {32: 256, 224: 8}  # image size -> images per batch


def _hwc(x: torch.Tensor) -> list[np.ndarray]:
    return [np.ascontiguousarray(img.permute(1, 2, 0).numpy()) for img in x]


@pytest.mark.parametrize("size", sorted(IMAGES))
def test_nlm_vs_opencv(benchmark, size):
    threads = torch.get_num_threads()
    n = IMAGES[size]
    x = torch.cat([timg.make("real", n // 2, size, size, seed=1),
                   timg.make("smoothed", n - n // 2, size, size, seed=2)])
    images = _hwc(x)
    pool = ThreadPoolExecutor(threads)

    def opencv_loop():
        cv2.setNumThreads(threads)
        return [opencv_nlm(img) for img in images]

    def opencv_pool():
        cv2.setNumThreads(1)
        return list(pool.map(opencv_nlm, images))

    def ours():
        return ucfast.nlm(x, backend="cpu")

    got = ours()
    assert torch.equal(got, per_image(opencv_nlm, x)), "correctness gate: the cpu NLM differs from OpenCV"
    assert all(np.array_equal(a, b) for a, b in zip(opencv_pool(), opencv_loop()))

    opencv_times = {"loop": [], "pool": []}

    def time_opencv():  # the untimed setup of each round
        for name, fn in (("loop", opencv_loop), ("pool", opencv_pool)):
            start = time.perf_counter()
            fn()
            opencv_times[name].append(time.perf_counter() - start)

    load_before = os.getloadavg()[0]
    benchmark.pedantic(ours, setup=time_opencv, rounds=ROUNDS, iterations=1, warmup_rounds=1)
    pool.shutdown()
    cv2.setNumThreads(threads)
    ours_s = benchmark.stats.stats.median
    opencv_s = {name: float(np.median(times[-ROUNDS:])) for name, times in opencv_times.items()}
    best = min(opencv_s.values())
    benchmark.extra_info.update({
        "size": size, "images": n, "threads": threads, "ours_median_s": ours_s,
        "opencv_loop_median_s": opencv_s["loop"], "opencv_pool_median_s": opencv_s["pool"],
        "speedup_vs_best_opencv": best / ours_s, "opencv": cv2.__version__,
        "load_average_before": load_before, "load_average_after": os.getloadavg()[0],
    })
    print(f"\nnlm {size}x{size}, {threads} threads: ucfast cpu {n / ours_s:.1f} img/s, OpenCV loop"
          f" {n / opencv_s['loop']:.1f} img/s, OpenCV pool {n / opencv_s['pool']:.1f} img/s,"
          f" speed-up {best / ours_s:.2f}x over the faster OpenCV")
