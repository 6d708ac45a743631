"""`ucfast.score`: UltraClean susceptibility of every sample a loader yields."""
from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence

import numpy as np
import torch

from .engine import Engine, RunSettings, ScoreSettings, check_label_range, check_model, model_device
from .images import as_tensor, check_images
from .scores import Scores


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


def _batches(loader, shuffled: bool, sink: list) -> Iterator[tuple[int, torch.Tensor]]:
    """(position, images) per batch, checked; labels and indices go to `sink` as (labels, indices)."""
    seen = 0
    for position, batch in enumerate(loader):
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
        sink.append((label, index))
        yield position, images


def score(
    loader: Iterable,
    model: torch.nn.Module,
    *,
    mean: Sequence[float] | float | None = None,
    std: Sequence[float] | float | None = None,
    denoisers: Sequence[str] = ("median", "nlm"),
    space: str = "softmax",
    distance: str = "l1",
    amplify: float = 1.0,
    device: torch.device | str | None = None,
    backend: str = "auto",
    features: bool | str = "auto",
    precision: str = "fp32",
    channels_last: bool = False,
    compile: bool = False,
    progress: bool = True,
) -> Scores:
    """Score every sample of `loader` by how far `model`'s output moves under denoising.

    The loader yields un-normalised images (uint8 0..255 or float 0..1; N x 3 x H x W or grey) with
    labels (classes of the model: 0..K-1) and, optionally, dataset indices; `mean`/`std` are the
    normalisation the model expects (in 0..1 units; values above 1.5 are refused as 0..255 units).
    A model whose first convolution takes one channel gets the mean of the three normalised channels. The score of a sample is the sum over denoisers of distance(f(x), f(v)), where
    v = x + amplify * (D(x) - x) and f is the softmax (or the logits). One model forward per batch
    covers the original and all variants. Returns `Scores` sorted by dataset position; its settings
    record what ran (the backend of each op, precision, features).

    features: "auto" (default: the input of the model's last torch.nn.Linear, the penultimate
    features, when it has one), True (the same, required), a module name (that module's output) or
    False: the features of the original images from the same forward, as `Scores.features` [N, D]
    float32; `ucfast.select`'s default detector needs them.
    precision: "fp32" (the model's own dtype, exact), "bf16" (bf16 autocast; the variants op writes
    bf16) or "auto" (bf16 on CUDA). channels_last: the model input's memory format (None: on CUDA).
    compile: torch.compile the model.
    """
    scoring = ScoreSettings.checked(denoisers=denoisers, space=space, distance=distance, amplify=amplify,
                                    mean=mean, std=std, backend=backend)
    check_model(model)
    device = torch.device(device) if device is not None else model_device(model)
    run = RunSettings.checked(device, precision=precision, channels_last=channels_last, compile=compile,
                              features=features)
    meta: list = []
    batches = _batches(loader, _shuffles(loader), meta)
    if progress:
        from tqdm.auto import tqdm

        batches = tqdm(batches, desc="ucfast score", unit="batch", total=_length(loader))
    results = []

    def where(position, rows):
        return f"batch {position}, dataset indices {meta[position][1].numpy()[rows[:8]].tolist()}"

    with Engine(model, scoring, run) as engine:
        for r in engine.results(batches, where):
            if r.total.size:
                check_label_range(meta[r.meta][0].numpy(), engine.num_classes, f"batch {r.meta}")
            results.append(r)
    if not any(r.total.size for r in results):
        raise ValueError("the loader yielded no samples (empty dataset or every batch empty)")
    labels = torch.cat([m[0] for m in meta]).numpy()
    index = torch.cat([m[1] for m in meta]).numpy()
    order = np.argsort(index, kind="stable")
    index = index[order]
    if index.size > 1 and (dup := np.flatnonzero(index[1:] == index[:-1])).size:
        raise ValueError(f"the loader yielded dataset index {int(index[dup[0]])} more than once")
    dist = np.concatenate([r.dist for r in results], 1)[:, order]
    kept = [r.features for r in results if r.features is not None]
    return Scores(
        total=np.concatenate([r.total for r in results])[order],
        components={name: dist[i] for i, name in enumerate(scoring.denoisers)},
        pred=np.concatenate([r.pred for r in results])[order],
        label=labels[order],
        index=index,
        settings=engine.record(),
        features=np.concatenate(kept)[order] if engine.capture is not None and kept else None,
    )


def _length(loader) -> int | None:
    try:
        return len(loader)
    except TypeError:
        return None
