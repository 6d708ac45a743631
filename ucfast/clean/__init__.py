"""`ucfast.clean`: the whole UltraClean loop on a data set on disk: train -> score -> detect -> retrain.

    settings    CleanSettings: the run's whole configuration, checked before the data opens
    pipeline    the `clean` entry point: the stages, their markers, torchrun
    trainer     the streaming training stage: DDP, warm-up + cosine, bf16/channels_last on CUDA, checkpoints
    loader      the training input: per-sample reads of a sanitize source, DistributedSampler that resumes
    transforms  per-sample crop/flip and random-resized-crop/flip, drawn from (seed, epoch, position)
    checkpoint  atomic, weights_only-loadable training checkpoints
    evaluate    clean accuracy and attack success rate on held-out data, streaming
    poisoned    write_poisoned: a built-in set poisoned by a built-in attack, on disk with its sidecar
    state       the output folder: spec, stage markers, lock
    report      report.json, detection against a known poison mask, histogram.png and roc.png
"""
from .pipeline import CleanResult, clean
from .poisoned import read_sidecar, write_poisoned
from .settings import CleanSettings

__all__ = ["clean", "CleanSettings", "CleanResult", "write_poisoned", "read_sidecar"]
