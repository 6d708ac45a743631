"""`ucfast.score`: UltraClean susceptibility of every sample a loader yields."""
from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import numpy as np
import torch

from . import ops
from .images import as_tensor, check_images
from .reference.susceptibility import check_space_distance
from .ops.denoisers import check_denoisers
from .scores import Scores


def check_settings(denoisers, space, distance, amplify):
    """Validate the scoring settings; returns the denoiser names as a tuple."""
    denoisers = check_denoisers(denoisers)
    check_space_distance(space, distance)
    if isinstance(amplify, bool) or not isinstance(amplify, (int, float)) or not math.isfinite(amplify):
        raise ValueError(f"amplify must be a finite number (1.0 is the paper's denoised image), got {amplify!r}")
    return denoisers


def channel_stats(value, name: str, default: float) -> tuple[float, float, float]:
    """mean or std as 3 floats (one number is repeated; None gives `default`)."""
    if value is None:
        return (default,) * 3
    values = tuple(float(v) for v in (value.tolist() if hasattr(value, "tolist") else value)) \
        if isinstance(value, (Sequence, np.ndarray, torch.Tensor)) else (float(value),)
    if len(values) == 1:
        values = values * 3
    if len(values) != 3:
        raise ValueError(f"{name} must be one number or 3 (one per channel), got {len(values)} values")
    if not all(math.isfinite(v) for v in values):
        raise ValueError(f"{name} must be finite, got {values}")
    if name == "std" and min(values) <= 0:
        raise ValueError(f"std must be positive, got {values}")
    return values


def _unpack(batch, position: int):
    """(images, labels, indices or None) from a tuple/list or a dict batch."""
    if isinstance(batch, dict):
        if "image" not in batch or "label" not in batch:
            raise ValueError(f"dict batches need keys 'image' and 'label' (optional 'index'), got keys {sorted(batch)}")
        return batch["image"], batch["label"], batch.get("index")
    if isinstance(batch, (tuple, list)) and len(batch) in (2, 3):
        return batch[0], batch[1], batch[2] if len(batch) == 3 else None
    kind = f"a {type(batch).__name__} of length {len(batch)}" if isinstance(batch, (tuple, list)) else type(batch).__name__
    raise ValueError(
        f"batch {position}: the loader must yield (images, labels), (images, labels, indices) or dicts with"
        f" 'image', 'label' and optional 'index'; got {kind}"
    )


def _as_ids(values, name: str, n: int, position: int) -> torch.Tensor:
    t = as_tensor(values, name) if not isinstance(values, (list, tuple)) else torch.as_tensor(values)
    t = t.reshape(-1)
    if t.numel() != n:
        raise ValueError(f"batch {position}: {name} has {t.numel()} entries but the batch has {n} images")
    if t.dtype.is_floating_point or t.dtype == torch.bool:
        raise TypeError(f"batch {position}: {name} must be integers, got dtype {t.dtype}")
    return t.to(torch.int64)


def _shuffles(loader) -> bool:
    sampler = getattr(loader, "sampler", None)
    return sampler is not None and not isinstance(sampler, torch.utils.data.SequentialSampler)


def _model_dtype(model: torch.nn.Module) -> torch.dtype:
    for p in model.parameters():
        if p.dtype.is_floating_point:
            return p.dtype
    return torch.float32


def _model_device(model: torch.nn.Module) -> torch.device:
    for p in model.parameters():
        return p.device
    return torch.device("cpu")


def score_batch(model, images: torch.Tensor, denoisers: tuple[str, ...], mean3, std3, *, space: str = "softmax",
                distance: str = "l1", amplify: float = 1.0, dtype: torch.dtype = torch.float32,
                channels_last: bool = False, backend: str = "auto"):
    """The per-batch step of `score`: checked [B, 3, H, W] pixels on the model's device -> variants op ->
    one model forward -> susceptibility op. Returns (total [B] float32, distances [V-1, B] float32,
    prediction [B] int64) on the device. Settings as `check_settings` / `channel_stats` return them.
    """
    b = images.shape[0]
    num_variants = 1 + len(denoisers)
    inputs = ops.variants(images, ",".join(denoisers), float(amplify), list(mean3), list(std3), dtype, channels_last,
                          backend)
    logits = model(inputs)
    if not isinstance(logits, torch.Tensor) or logits.dim() != 2 or logits.shape[0] != num_variants * b:
        got = tuple(logits.shape) if isinstance(logits, torch.Tensor) else type(logits).__name__
        raise ValueError(
            f"model output must be logits of shape [B, K] = [{num_variants * b}, K] for a batch of"
            f" {b} images x {num_variants} variants, got {got}"
        )
    return ops.susceptibility(logits, num_variants, space, distance, backend)


class FeatureCapture:
    """A forward hook that keeps, per batch, the features of the original images: the first `rows`
    rows of a layer's [V*B, ...] activations in the scoring forward, flattened to [B, D] float32 on
    the CPU. `features=True`/"auto" hooks the input of the model's last `torch.nn.Linear` (the
    classifier head); a module name hooks that module's output.
    """

    def __init__(self, model, features):
        if not isinstance(model, torch.nn.Module):
            raise TypeError(f"features={features!r} needs model to be a torch.nn.Module (to hook a layer),"
                            f" got {type(model).__name__}")
        if features is True or features == "auto":
            heads = [(name, m) for name, m in model.named_modules() if isinstance(m, torch.nn.Linear)]
            if not heads:
                raise ValueError("features='auto' hooks the input of the classifier head (the model's last"
                                 " torch.nn.Linear) but the model has no torch.nn.Linear; pass features=<module name>")
            self.layer, self.module = heads[-1]
            self.head = True
            self.where = f"input of {self.layer}"
        elif isinstance(features, str):
            try:
                self.module = model.get_submodule(features)
            except AttributeError:
                names = [name for name, _ in model.named_modules() if name]
                raise ValueError(f"features={features!r} names no module of the model; module names:"
                                 f" {names[:40]}{' ...' if len(names) > 40 else ''}") from None
            self.layer = features
            self.head = False
            self.where = f"output of {self.layer}"
        else:
            raise ValueError(f"features must be False, True, 'auto' or a module name, got {features!r}")
        self.rows = 0
        self.batch = None
        self.handle = None

    def open(self) -> None:
        """Register the hook (`close` removes it)."""
        if self.head:
            self.handle = self.module.register_forward_pre_hook(lambda _m, args: self._keep(args[0]))
        else:
            self.handle = self.module.register_forward_hook(lambda _m, _args, out: self._keep(out))

    def _keep(self, x) -> None:
        if not isinstance(x, torch.Tensor) or x.dim() == 0 or x.shape[0] < self.rows:
            got = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise ValueError(f"features: the {self.where} must be a tensor with at least {self.rows} rows, got {got}")
        self.batch = x[:self.rows].reshape(self.rows, -1).float().cpu()  # [B, D]

    def take(self) -> torch.Tensor:
        """The features the last forward captured (rows of the original images)."""
        if self.batch is None:
            raise ValueError(f"features: the {self.where} did not run in the model's forward")
        out, self.batch = self.batch, None
        return out

    def close(self) -> None:
        if self.handle is not None:
            self.handle.remove()
            self.handle = None


def score(
    loader: Iterable,
    model: torch.nn.Module,
    *,
    mean=None,
    std=None,
    denoisers: Sequence[str] = ("median", "nlm"),
    space: str = "softmax",
    distance: str = "l1",
    amplify: float = 1.0,
    device=None,
    backend: str = "auto",
    progress: bool = True,
    features=False,
) -> Scores:
    """Score every sample of `loader` by how far `model`'s output moves under denoising.

    The loader yields un-normalised images (uint8 0..255 or float 0..1; N x 3 x H x W or grey) with
    labels and, optionally, dataset indices; `mean`/`std` are the normalisation the model expects
    (in 0..1 units). The score of a sample is the sum over denoisers of distance(f(x), f(v)), where
    v = x + amplify * (D(x) - x) and f is the softmax (or the logits). One model forward per batch
    covers the original and all variants. Returns `Scores` sorted by dataset position.

    features: False (default), True / "auto" (the input of the model's last torch.nn.Linear, the
    penultimate features) or a module name (that module's output): also keep, from the same
    forward, the features of the original images as `Scores.features`, [N, D] float32.
    """
    denoisers = check_settings(denoisers, space, distance, amplify)
    mean3 = channel_stats(mean, "mean", 0.0)
    std3 = channel_stats(std, "std", 1.0)
    if not isinstance(model, torch.nn.Module) and not callable(model):
        raise TypeError(f"model must be a torch.nn.Module or callable, got {type(model).__name__}")
    device = torch.device(device) if device is not None else (
        _model_device(model) if isinstance(model, torch.nn.Module) else torch.device("cpu"))
    dtype = _model_dtype(model) if isinstance(model, torch.nn.Module) else torch.float32
    shuffled = _shuffles(loader)

    totals, dists, preds, labels, indices, feats = [], [], [], [], [], []
    seen = 0
    capture = FeatureCapture(model, features) if features is not False and features is not None else None
    was_training = model.training if isinstance(model, torch.nn.Module) else None
    if was_training is not None:
        model.eval()
    batches = loader
    if progress:
        from tqdm.auto import tqdm

        batches = tqdm(loader, desc="ucfast score", unit="batch")
    try:
        if capture is not None:
            capture.open()
        with torch.inference_mode():
            for position, batch in enumerate(batches):
                images, label, index = _unpack(batch, position)
                images = check_images(images, f"batch {position} images")
                b = images.shape[0]
                label = _as_ids(label, "labels", b, position)
                if index is None:
                    if shuffled:
                        raise ValueError(
                            "the loader shuffles (its sampler is not sequential) but yields no dataset indices,"
                            " so scores cannot be aligned with dataset positions; yield (images, labels, indices)"
                            " or dicts with an 'index' key (wrap the dataset with ucfast.data.WithIndex),"
                            " or use shuffle=False"
                        )
                    index = torch.arange(seen, seen + b)
                index = _as_ids(index, "indices", b, position)
                seen += b
                if b == 0:
                    continue
                x = images.to(device, non_blocking=True)
                if capture is not None:
                    capture.rows = b
                total, dist, pred = score_batch(model, x, denoisers, mean3, std3, space=space, distance=distance,
                                                amplify=amplify, dtype=dtype, backend=backend)
                totals.append(total.cpu())
                dists.append(dist.cpu())
                preds.append(pred.cpu())
                if capture is not None:
                    feats.append(capture.take())
                labels.append(label)
                indices.append(index)
    finally:
        if capture is not None:
            capture.close()
        if was_training is not None:
            model.train(was_training)
    if not totals:
        raise ValueError("the loader yielded no samples (empty dataset or every batch empty)")

    index = torch.cat(indices).numpy()
    order = np.argsort(index, kind="stable")
    index = index[order]
    if index.size > 1 and (dup := np.flatnonzero(index[1:] == index[:-1])).size:
        raise ValueError(f"the loader yielded dataset index {int(index[dup[0]])} more than once")
    dist = torch.cat(dists, 1).numpy()[:, order]
    settings = {"denoisers": list(denoisers), "space": space, "distance": distance, "amplify": float(amplify),
                "mean": list(mean3), "std": list(std3), "backend": backend}
    if capture is not None:
        settings["features"] = capture.where
    return Scores(
        total=torch.cat(totals).numpy()[order],
        components={name: dist[i] for i, name in enumerate(denoisers)},
        pred=torch.cat(preds).numpy()[order],
        label=torch.cat(labels).numpy()[order],
        index=index,
        settings=settings,
        features=torch.cat(feats).numpy()[order] if capture is not None else None,
    )
