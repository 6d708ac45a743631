"""The streaming training stage of `ucfast clean`: DataLoader workers over the same readers as
sanitize, SGD or AdamW with linear warm-up then cosine decay (torch.optim.lr_scheduler), bf16
autocast and channels_last on CUDA, optional torch.compile, DistributedDataParallel under torchrun
(SyncBatchNorm on GPUs), and a resumable checkpoint every N minutes and at every epoch end.

Deterministic given the seed and the world size: the model is initialised from the seed, the
sampler's order from seed + epoch, every sample's augmentation from (seed, epoch, position), and the
RNG from (seed, rank, step) before every step; on the CPU with deterministic algorithms. A resumed
run (same world size) reaches the same final weights as an uninterrupted one.

Across world sizes: every step is one global batch, cut into micro-batches (one forward each, batch
norm over the micro-batch, gradients accumulated; DDP reduces once per step). With the same
`micro_batch` the micro-batches are the same samples for every world size (`loader.GlobalBatches`),
so the training is the same computation up to the order of float additions (the gradient sum runs
over other partial sums), which makes the weights equal to a few ulps after a step, not bit for bit.
Batch norm's running statistics are then recomputed by rank 0 over a fixed set of training samples
in micro-batches (`precise_bn`, torch.optim.swa_utils.update_bn), so they do not depend on which
rank's running averages DDP kept. On GPUs with more than one rank, SyncBatchNorm normalises over the
micro-batches of all ranks together instead.
"""
from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from .. import models
from ..train import normalise
from . import checkpoint
from .loader import GlobalBatches, TrainItems, train_loader
from .transforms import Augment


@dataclass(frozen=True)
class TrainStage:
    """One training run of the pipeline: its name, files, positions and epochs."""

    name: str  # "train" (the suspect model) or "retrain" (on what was kept)
    state: str  # the resumable checkpoint
    weights: str  # the final state dict (what sanitize and evaluation load)
    positions: np.ndarray  # dataset positions to train on
    epochs: int
    spec: str  # what the checkpoint must belong to


def step_seed(seed: int, rank: int, epoch: int, step: int) -> int:
    return int(np.random.SeedSequence([seed, rank, epoch, step]).generate_state(1, np.uint64)[0] >> 1)


def _schedule(optimizer, total: int, warmup: float):
    warm = min(total - 1, int(round(warmup * total)))
    cosine = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(1, total - warm))
    if warm <= 0:
        return cosine
    linear = torch.optim.lr_scheduler.LinearLR(optimizer, start_factor=0.01, end_factor=1.0, total_iters=warm)
    return torch.optim.lr_scheduler.SequentialLR(optimizer, [linear, cosine], milestones=[warm])


def _optimizer(cfg, params):
    lr, wd = cfg.resolved_lr(), cfg.resolved_weight_decay()
    if cfg.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=wd)
    return torch.optim.SGD(params, lr=lr, momentum=cfg.momentum, weight_decay=wd, nesterov=cfg.momentum > 0)


@contextlib.contextmanager
def _determinism(on: bool):
    saved = (torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled(),
             torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic)
    torch.use_deterministic_algorithms(on)
    torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic = not on, on
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(saved[0], warn_only=saved[1])
        torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic = saved[2], saved[3]


def batches(cfg, world: int) -> tuple[int, int]:
    """(per-process batch, micro-batch) of `cfg` on `world` processes, or an error naming the setting."""
    if cfg.batch_size % world:
        raise ValueError(f"batch_size ({cfg.batch_size}) is the global batch and must split evenly across the"
                         f" {world} processes")
    local_batch = cfg.batch_size // world
    micro = cfg.micro_batch or local_batch
    if local_batch % micro:
        raise ValueError(f"micro_batch ({micro}) must divide the per-process batch, batch_size / processes ="
                         f" {cfg.batch_size} / {world} = {local_batch}")
    return local_batch, micro


def _precise_bn(trained: dict, num_classes: int, stage, items, cfg, micro, workers, device, memory, mean_t, std_t,
                cuda) -> dict:
    """The `trained` weights in a plain model (no DDP, no SyncBatchNorm: rank 0 runs this alone) whose
    batch-norm statistics are recomputed over `cfg.precise_bn` seeded training samples, in micro-batches;
    returns its state dict."""
    plain = models.build(cfg.arch, num_classes)
    plain.load_state_dict(trained)
    plain = plain.to(device, memory_format=memory)
    n = int(stage.positions.shape[0])
    picks = np.random.default_rng([cfg.seed, 0xB7]).permutation(n)[:max(micro, min(n, cfg.precise_bn))]
    subset = TrainItems(items.source, stage.positions[picks], items.augment)
    subset.epoch = stage.epochs
    loader = torch.utils.data.DataLoader(subset, batch_size=micro, drop_last=True, num_workers=workers,
                                         collate_fn=subset.collate, pin_memory=cuda)
    batches = (normalise(b.images.to(device, non_blocking=True), mean_t, std_t).contiguous(memory_format=memory)
               for b in loader)
    with torch.no_grad():
        torch.optim.swa_utils.update_bn(batches, plain)
    return plain.state_dict()


def run(stage: TrainStage, source, cfg, ctx, device: torch.device, *, num_classes: int, mean, std,
        workers: int) -> dict:
    """Train `cfg.arch` from scratch on `stage.positions` of `source`; rank 0 writes stage.weights.

    Returns the stage's results: steps, images trained on in this run, seconds, images/s, loss per epoch.
    """
    world, rank = ctx.world, ctx.rank
    local_batch, micro = batches(cfg, world)
    n = int(stage.positions.shape[0])
    steps_per_epoch = n // cfg.batch_size
    if steps_per_epoch < 1:
        raise ValueError(f"{stage.name}: {n} samples give no full global batch of batch_size={cfg.batch_size};"
                         " lower batch_size")
    cuda = device.type == "cuda"
    deterministic = (not cuda) if cfg.deterministic is None else cfg.deterministic
    bf16 = cfg.precision == "bf16" or (cfg.precision == "auto" and cuda)
    channels_last = cuda if cfg.channels_last is None else cfg.channels_last
    memory = torch.channels_last if channels_last else torch.contiguous_format

    torch.manual_seed(cfg.seed)
    net = models.build(cfg.arch, num_classes)
    if cuda and world > 1:
        net = nn.SyncBatchNorm.convert_sync_batchnorm(net)
    net = net.to(device, memory_format=memory)
    optimizer = _optimizer(cfg, net.parameters())
    schedule = _schedule(optimizer, stage.epochs * steps_per_epoch, cfg.warmup)
    state = checkpoint.load(stage.state, stage.spec)
    epoch, step, losses = 0, 0, []
    if state is not None:
        net.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        schedule.load_state_dict(state["scheduler"])
        epoch, step, losses = int(state["epoch"]), int(state["step"]), list(state["losses"])
    model = DistributedDataParallel(net, device_ids=[device] if cuda else None) if world > 1 else net
    forward = torch.compile(model) if cfg.compile else model

    items = TrainItems(source, stage.positions, Augment(cfg.resolved_augment(), cfg.crop, cfg.seed))
    sampler = GlobalBatches(items, num_replicas=world, rank=rank, seed=cfg.seed, global_batch=cfg.batch_size)
    mean_t = torch.tensor(mean, dtype=torch.float32, device=device).reshape(-1, 1, 1)
    std_t = torch.tensor(std, dtype=torch.float32, device=device).reshape(-1, 1, 1)
    loss_fn = nn.CrossEntropyLoss(label_smoothing=cfg.label_smoothing)

    def save(at_epoch: int, at_step: int) -> None:
        if rank == 0:
            checkpoint.save(stage.state, {"spec": stage.spec, "model": net.state_dict(),
                                          "optimizer": optimizer.state_dict(), "scheduler": schedule.state_dict(),
                                          "epoch": at_epoch, "step": at_step, "losses": losses})

    remaining = (stage.epochs * steps_per_epoch - (epoch * steps_per_epoch + step)) * cfg.batch_size
    bar = None
    if cfg.progress and rank == 0 and remaining:
        from tqdm.auto import tqdm

        bar = tqdm(total=remaining, desc=f"ucfast clean: {stage.name}", unit="img", smoothing=0.05,
                   dynamic_ncols=True)
    started = time.perf_counter()
    trained, last_save = 0, time.perf_counter()
    net.train()
    try:
        with _determinism(deterministic):
            while epoch < stage.epochs:
                sampler.set_epoch(epoch)
                sampler.skip = step * local_batch
                items.epoch = epoch
                loss_sum, loss_count = torch.zeros((), device=device), 0  # summed on the device: no sync per step
                for batch in train_loader(items, sampler, local_batch, workers, cuda):
                    torch.manual_seed(step_seed(cfg.seed, rank, epoch, step))
                    x = normalise(batch.images.to(device, non_blocking=True), mean_t, std_t)
                    x = x.contiguous(memory_format=memory)  # [b, 3, H, W]
                    y = batch.labels.to(device, non_blocking=True)
                    optimizer.zero_grad(set_to_none=True)
                    loss = torch.zeros((), device=device)
                    starts = range(0, x.shape[0], micro)
                    for start in starts:
                        last = start == starts[-1]
                        sync = contextlib.nullcontext() if last or world == 1 else model.no_sync()
                        with sync:
                            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
                                part = loss_fn(forward(x[start:start + micro]), y[start:start + micro])
                            share = part * (min(micro, x.shape[0] - start) / x.shape[0])
                            share.backward()
                        loss += share.detach()
                    optimizer.step()
                    schedule.step()
                    step += 1
                    trained += cfg.batch_size
                    loss_sum, loss_count = loss_sum + loss, loss_count + 1
                    if bar is not None:
                        bar.update(cfg.batch_size)
                        if loss_count % 50 == 1:
                            bar.set_postfix(epoch=f"{epoch + 1}/{stage.epochs}",
                                            loss=f"{float(loss_sum) / loss_count:.3f}", refresh=False)
                    if step < steps_per_epoch and time.perf_counter() - last_save >= 60 * cfg.checkpoint_minutes:
                        save(epoch, step)
                        last_save = time.perf_counter()
                losses.append(float(loss_sum) / max(1, loss_count))
                epoch, step = epoch + 1, 0
                save(epoch, 0)
                last_save = time.perf_counter()
    finally:
        if bar is not None:
            bar.close()
    seconds = time.perf_counter() - started
    if rank == 0:
        final = net.state_dict()
        if cfg.precise_bn:
            final = _precise_bn(final, num_classes, stage, items, cfg, micro, workers, device, memory, mean_t, std_t,
                                cuda)
        checkpoint.save(stage.weights, final)
    return {"samples": n, "epochs": stage.epochs, "steps_per_epoch": steps_per_epoch,
            "global_batch": cfg.batch_size, "micro_batch": micro, "precise_bn": cfg.precise_bn, "world_size": world,
            "images_trained_now": trained,
            "seconds_now": seconds, "images_per_s": trained / seconds if trained and seconds > 0 else None,
            "loss_per_epoch_rank0": losses, "lr": cfg.resolved_lr(), "weight_decay": cfg.resolved_weight_decay(),
            "augment": cfg.resolved_augment(), "precision": "bf16" if bf16 else "fp32",
            "channels_last": channels_last, "deterministic": deterministic, "workers": workers,
            "sync_batchnorm": cuda and world > 1, "compile": cfg.compile, "device": str(device)}
