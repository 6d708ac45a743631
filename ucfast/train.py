"""Training and evaluation for the demo, the tests and the benchmarks.

Normalisation convention: ucfast's models take normalised input. `fit`, `predict` and friends
take un-normalised datasets (uint8 pixels) plus the `mean`/`std` (0..1 units) to normalise with,
and the same mean/std go to `ucfast.score(..., mean=mean, std=std)`. When mean/std are not given,
`fit` uses the training set's own statistics (`ucfast.data.stats`); pass the values it used on.

fit: SGD with momentum and Nesterov, cosine learning-rate schedule, random crop (4-pixel zero
padding) and horizontal flip done on batched tensors, and on CUDA bf16/fp16 autocast and
channels_last.
"""
from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from .data import batches, labels_of, stats


def _device(device) -> torch.device:
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def normalise(images: torch.Tensor, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    """uint8 (or 0..1 float) [B, 3, H, W] -> float32 (x / 255 - mean) / std."""
    x = images.float() / 255.0 if images.dtype == torch.uint8 else images.float()
    return (x - mean) / std


def augment(images: torch.Tensor, generator: torch.Generator, pad: int = 4) -> torch.Tensor:
    """Random crop with `pad` pixels of zero padding and random horizontal flip. [B, C, H, W] -> same."""
    b, c, h, w = images.shape
    padded = nn.functional.pad(images, (pad, pad, pad, pad))  # [B, C, H + 2p, W + 2p]
    oy = torch.randint(0, 2 * pad + 1, (b,), generator=generator).to(images.device)
    ox = torch.randint(0, 2 * pad + 1, (b,), generator=generator).to(images.device)
    rows = (oy[:, None] + torch.arange(h, device=images.device))[:, None, :, None]  # [B, 1, H, 1]
    cols = (ox[:, None] + torch.arange(w, device=images.device))[:, None, None, :]  # [B, 1, 1, W]
    bi = torch.arange(b, device=images.device)[:, None, None, None]
    ci = torch.arange(c, device=images.device)[None, :, None, None]
    out = padded[bi, ci, rows, cols]
    flip = (torch.rand(b, generator=generator) < 0.5).to(images.device)[:, None, None, None]
    return torch.where(flip, out.flip(3), out)


def _stats_tensors(dataset, mean, std, device):
    if mean is None or std is None:
        m, s = stats(dataset)
        mean = m if mean is None else mean
        std = s if std is None else std
    mean_t = torch.as_tensor(mean, dtype=torch.float32, device=device).reshape(-1, 1, 1)
    std_t = torch.as_tensor(std, dtype=torch.float32, device=device).reshape(-1, 1, 1)
    return mean_t, std_t


def fit(model: nn.Module, dataset, *, epochs: int = 10, batch_size: int = 128, lr: float = 0.05,
        momentum: float = 0.9, weight_decay: float = 5e-4, mean=None, std=None, indices=None,
        augmentation: bool = True, device=None, seed: int = 0, num_workers: int = 0,
        progress: bool = True, desc: str = "train") -> nn.Module:
    """Train `model` on `dataset` (or on the positions `indices` of it) in place; returns it in eval mode.

    The same `seed` gives the same batches and augmentations. On CUDA: autocast (bf16 where
    supported, else fp16 with loss scaling) and channels_last.
    """
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"epochs must be a positive integer, got {epochs!r}")
    device = _device(device)
    cuda = device.type == "cuda"
    model.to(device)
    if cuda:
        model.to(memory_format=torch.channels_last)
    mean_t, std_t = _stats_tensors(dataset, mean, std, device)
    n = len(dataset) if indices is None else len(indices)
    if n == 0:
        raise ValueError("nothing to train on: the dataset (or the given indices) is empty")
    steps_per_epoch = math.ceil(n / batch_size)
    total_steps = epochs * steps_per_epoch
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum, weight_decay=weight_decay,
                                nesterov=True)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: 0.5 * (1.0 + math.cos(math.pi * min(step, total_steps) / total_steps)))
    amp_dtype = (torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16) if cuda else None
    scaler = torch.amp.GradScaler("cuda", enabled=amp_dtype == torch.float16)
    generator = torch.Generator().manual_seed(seed)
    loss_fn = nn.CrossEntropyLoss()
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=total_steps, desc=desc, unit="batch", leave=False)
    torch.manual_seed(seed)
    model.train()
    try:
        for epoch in range(epochs):
            for images, labels, _ in batches(dataset, batch_size, shuffle=True, seed=seed * 100_003 + epoch,
                                             indices=indices, num_workers=num_workers):
                x = images.to(device, non_blocking=True)
                y = labels.to(device, non_blocking=True)
                if augmentation:
                    x = augment(x, generator)
                x = normalise(x, mean_t, std_t)
                if cuda:
                    x = x.contiguous(memory_format=torch.channels_last)
                with torch.autocast(device.type, dtype=amp_dtype, enabled=amp_dtype is not None):
                    loss = loss_fn(model(x), y)
                optimizer.zero_grad(set_to_none=True)
                scaler.scale(loss).backward()
                scaler.step(optimizer)
                scaler.update()
                schedule.step()
                if bar is not None:
                    bar.update(1)
                    bar.set_postfix(epoch=f"{epoch + 1}/{epochs}", loss=f"{loss.item():.3f}", refresh=False)
    finally:
        if bar is not None:
            bar.close()
    return model.eval()


@torch.inference_mode()
def predict(model: nn.Module, dataset, *, mean, std, batch_size: int = 512, device=None) -> np.ndarray:
    """Predicted class of every item, int64 [N], in dataset order."""
    device = _device(device) if device is not None else next(model.parameters()).device
    mean_t, std_t = _stats_tensors(dataset, mean, std, device)
    was_training = model.training
    model.eval()
    preds = np.empty(len(dataset), dtype=np.int64)
    try:
        for images, _, idx in batches(dataset, batch_size):
            x = normalise(images.to(device), mean_t, std_t)
            if device.type == "cuda":
                x = x.contiguous(memory_format=torch.channels_last)
                with torch.autocast("cuda", dtype=torch.bfloat16, enabled=torch.cuda.is_bf16_supported()):
                    out = model(x)
            else:
                out = model(x)
            preds[idx.numpy()] = out.argmax(1).cpu().numpy()
    finally:
        model.train(was_training)
    return preds


def accuracy(model: nn.Module, dataset, *, mean, std, batch_size: int = 512, device=None) -> float:
    """Clean accuracy (CA): fraction of items predicted as their label."""
    return float(np.mean(predict(model, dataset, mean=mean, std=std, batch_size=batch_size, device=device)
                         == labels_of(dataset)))


def attack_success_rate(model: nn.Module, attack, test_dataset, *, mean, std, batch_size: int = 512,
                        device=None) -> float:
    """ASR: fraction of the triggered test images (`attack.test_set` builds them: the source-class
    images, by default those whose true class is not the target) that the model assigns to the
    label the attack intends for each (`intended`: the target, or per image for attacks such as
    all-to-all and two-targets)."""
    triggered = attack.test_set(test_dataset)
    preds = predict(model, triggered, mean=mean, std=std, batch_size=batch_size, device=device)
    return float(np.mean(preds == triggered.intended.numpy()))
