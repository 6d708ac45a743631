"""`ucfast.sanitize` end to end on generated JPEG ImageFolder trees: images/s and where the time goes.

CPU entries: 32 x 32 (small CNN) and 224 x 224 (ResNet-50), default median + NLM, one DataLoader
worker. The engine's own timers split its wall time into waiting for the loader, denoising (the
variants and susceptibility ops) and the model; a loader-only pass gives the decode cost per image.
GPU entry (skipped without a GPU): 224 x 224, ResNet-50, median + NLM, bf16 + channels_last,
against forward-only throughput (three forwards per sample, the same batches) in the same run.

    python -m pytest bench/bench_sanitize.py --benchmark-json bench/results/sanitize.json -s
"""
import itertools
import time

import numpy as np
import pytest
import torch
from PIL import Image

import ucfast
import ucfast.models
from tests import images as timg
from ucfast.data.folder import ImageFolder

IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
IMAGENET_TRAIN = 1_281_167  # images in the ImageNet-1k train set
CPU_CASES = {32: dict(n=512, arch="cnn", classes=10, batch=64), 224: dict(n=48, arch="resnet50", classes=100, batch=8)}


def make_tree(root, n: int, size: int, classes: int, seed: int = 0) -> str:
    """n real-photo crops of size x size as JPEG (quality 90) in `classes` class folders."""
    pixels = timg.make("real", n, size, size, seed=seed).permute(0, 2, 3, 1).numpy()
    for i in range(n):
        folder = root / f"class{i % classes:03d}"
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(pixels[i]).save(folder / f"{i:06d}.jpg", quality=90)
    return str(root)


def make_checkpoint(path, arch: str, classes: int) -> str:
    torch.manual_seed(0)
    torch.save(ucfast.models.build(arch, classes).state_dict(), path)
    return str(path)


def loader_seconds(data: str, batch: int) -> float:
    """Decode time of the whole tree in this process (no workers): the CPU cost of loading."""
    ds = ImageFolder(data)
    loader = torch.utils.data.DataLoader(ds, batch_size=batch, collate_fn=ds.collate, num_workers=0)
    start = time.perf_counter()
    for _ in loader:
        pass
    return time.perf_counter() - start


@pytest.mark.parametrize("size", [32, 224])
def test_cpu_folder(benchmark, tmp_path, size):
    case = CPU_CASES[size]
    data = make_tree(tmp_path / "data", case["n"], size, case["classes"])
    ckpt = make_checkpoint(tmp_path / "model.pt", case["arch"], case["classes"])
    runs = itertools.count()
    results = []

    def once():
        results.append(ucfast.sanitize(data, out=tmp_path / f"out{next(runs)}", arch=case["arch"], checkpoint=ckpt,
                                       ratio=0.05, mean=IMAGENET_MEAN, std=IMAGENET_STD, batch_size=case["batch"],
                                       workers=1, progress=False))

    benchmark.pedantic(once, rounds=3, iterations=1, warmup_rounds=1)
    walls = [r.run["ranks"][0]["wall_s"] for r in results]
    best = results[int(np.argmin(walls))].run
    wall = best["ranks"][0]["wall_s"]
    t = best["timings_s"]
    shares = {"load_wait": t["load_wait_s"] / wall, "denoise": t["denoise_s"] / wall, "model": t["model_s"] / wall,
              "write": t["write_s"] / wall}
    decode = loader_seconds(data, case["batch"])
    info = {"size": size, "images": case["n"], "arch": case["arch"], "denoisers": "median,nlm",
            "images_per_s": case["n"] / float(np.median(walls)), "engine_wall_s": walls, "shares": shares,
            "decode_ms_per_image": 1e3 * decode / case["n"], "threads": torch.get_num_threads(),
            "backend": "auto", "device": "cpu"}
    benchmark.extra_info.update(info)
    print(f"\nsanitize {size}x{size} {case['arch']}: {info['images_per_s']:.1f} img/s; engine wall shares:"
          f" load wait {shares['load_wait']:.0%}, denoise {shares['denoise']:.0%}, model {shares['model']:.0%},"
          f" write {shares['write']:.1%}; decode alone {info['decode_ms_per_image']:.2f} ms/img")


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("gpu_decode", [False, True])
def test_gpu_imagenet_size_vs_forward_only(benchmark, tmp_path, gpu_decode):
    if gpu_decode:
        pytest.importorskip("torchvision.io")
    n, batch, classes = 4096, 256, 1000
    data = make_tree(tmp_path / "data", n, 224, 100)
    ckpt = make_checkpoint(tmp_path / "model.pt", "resnet50", classes)
    runs = itertools.count()
    results = []

    def once():
        results.append(ucfast.sanitize(data, out=tmp_path / f"out{next(runs)}", arch="resnet50", checkpoint=ckpt,
                                       ratio=0.01, mean=IMAGENET_MEAN, std=IMAGENET_STD, batch_size=batch,
                                       device="cuda", gpu_decode=gpu_decode, progress=False))

    benchmark.pedantic(once, rounds=2, iterations=1, warmup_rounds=1)
    score_rate = n / min(r.run["ranks"][0]["wall_s"] for r in results)

    model = ucfast.models.build("resnet50", classes).cuda().eval().to(memory_format=torch.channels_last)
    x = torch.randn(3 * batch, 3, 224, 224, device="cuda").contiguous(memory_format=torch.channels_last)
    with torch.inference_mode(), torch.autocast("cuda", dtype=torch.bfloat16):
        for _ in range(3):
            model(x)
        torch.cuda.synchronize()
        steps = 20
        start = time.perf_counter()
        for _ in range(steps):
            model(x)
        torch.cuda.synchronize()
    forward_rate = steps * batch / (time.perf_counter() - start)
    info = {"images": n, "batch": batch, "gpu_decode": gpu_decode, "device": torch.cuda.get_device_name(),
            "sanitize_images_per_s": score_rate, "forward_only_images_per_s": forward_rate,
            "ratio_to_forward_only": score_rate / forward_rate, "timings_s": results[-1].run["timings_s"],
            "imagenet_train_minutes": IMAGENET_TRAIN / score_rate / 60,
            "bar": {"metric": "fraction_of_forward_only", "value": score_rate / forward_rate, "threshold": 0.9,
                    "meets": score_rate / forward_rate >= 0.9}}
    benchmark.extra_info.update(info)
    print(f"\nGPU sanitize 224x224 resnet50 median+nlm (gpu_decode={gpu_decode}): {score_rate:.0f} img/s;"
          f" forward-only (3 forwards/sample) {forward_rate:.0f} img/s; ratio {score_rate / forward_rate:.2f};"
          f" ImageNet-1k train at this rate: {info['imagenet_train_minutes']:.1f} min")
