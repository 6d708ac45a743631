"""`ucfast.sanitize`: UltraClean over a whole dataset, streaming, resumable and distributed.

    settings     SanitizeSettings: the job's whole configuration, checked, fingerprinted, reported
    pipeline     the `sanitize` entry point: validate, open data and model, score, merge, report
    sources      ImageFolder trees, WebDataset tar shards, .npz arrays as position-addressed sources
    model        architecture + weights_only state dict, TorchScript, torch.export, or a module
    engine       chunks -> DataLoader -> ucfast.engine.Engine (the one scoring engine) -> chunk buffers
    job          the output folder: job.json, atomic chunk commits, resume checks, the lock
    distributed  torchrun: process group, deterministic shares, failures reported by rank
    select       the readable samples as Scores -> ucfast.selection (the one selection) -> status codes
    report       scores.npy and friends, manifests, report.json, run.json, histogram.png
"""
from .distributed import RankFailed
from .job import JobLocked, JobMismatch
from .pipeline import SanitizeResult, sanitize
from .settings import SanitizeSettings

__all__ = ["sanitize", "SanitizeSettings", "SanitizeResult", "JobMismatch", "JobLocked", "RankFailed"]
