"""Clean accuracy and attack success rate of a trained model on held-out data, streaming.

CA: the share of the held-out set (`test`) predicted as its label. ASR: the share of the triggered
held-out images (the sidecar's `triggered` set: test images of other classes with the trigger
applied, true labels kept) predicted as the attack's target.
"""
from __future__ import annotations

import numpy as np
import torch

from ..train import normalise


@torch.inference_mode()
def predict(model: torch.nn.Module, source, *, mean, std, device: torch.device, batch_size: int, workers: int,
            precision_bf16: bool, progress: bool, desc: str) -> np.ndarray:
    """Predicted class of every position of `source`, int64 [N] (-1 where unreadable)."""
    n = len(source)
    preds = np.full(n, -1, dtype=np.int64)
    mean_t = torch.tensor(mean, dtype=torch.float32, device=device).reshape(-1, 1, 1)
    std_t = torch.tensor(std, dtype=torch.float32, device=device).reshape(-1, 1, 1)
    model.eval()
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=n, desc=desc, unit="img", smoothing=0.05, dynamic_ncols=True, leave=False)
    try:
        for batch in source.loader([(0, n)], batch_size, workers, device.type == "cuda"):
            if batch.images.shape[0]:
                x = normalise(batch.images.to(device, non_blocking=True), mean_t, std_t)
                if device.type == "cuda":
                    x = x.contiguous(memory_format=torch.channels_last)
                with torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision_bf16):
                    preds[batch.indices.numpy()] = model(x).argmax(1).cpu().numpy()
            if bar is not None:
                bar.update(int(batch.indices.numel()) + len(batch.failed))
    finally:
        if bar is not None:
            bar.close()
    return preds


def clean_accuracy(preds: np.ndarray, labels: np.ndarray) -> float:
    readable = preds >= 0
    return float(np.mean(preds[readable] == labels[readable])) if readable.any() else float("nan")


def attack_success_rate(preds: np.ndarray, target) -> float:
    """Share of the readable triggered images predicted as `target`: one label, or one per image [M]."""
    readable = preds >= 0
    wanted = np.broadcast_to(np.asarray(target, dtype=np.int64), preds.shape)
    return float(np.mean(preds[readable] == wanted[readable])) if readable.any() else float("nan")
