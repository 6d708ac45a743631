"""`ucfast clean DATA --arch NAME --out DIR [--epochs E] [--retrain]`: the whole loop on a data set on disk.

Trains the suspect model on DATA, scores every sample with it (the sanitize job), cuts with the default
detector, writes the manifest, and with --retrain trains a fresh model on what was kept. A rerun of
the same command continues an interrupted run. Under `torchrun --nproc_per_node=G -m ucfast clean ...`
every rank trains (DDP) and scores its share; rank 0 prints the summary.
"""
from __future__ import annotations

import argparse
import os

from .jobs import run_job, settings_from
from .sanitize import _floats, _names, _on_off

EXAMPLE = """examples:
  ucfast clean data/train --arch cnn --out run/ --epochs 10 --retrain --test data/test
  torchrun --nproc_per_node=8 -m ucfast clean /data/imagenet/train --arch resnet50 --out run/ \\
      --epochs 90 --retrain --batch-size 1024 --resize 256 --crop 224 --label-smoothing 0.1 \\
      --mean 0.485,0.456,0.406 --std 0.229,0.224,0.225 --test /data/imagenet/val
A rerun of the same command resumes an interrupted run; outputs are in OUT (see report.json)."""


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "clean", help="train a suspect model on a dataset, find its poisoned samples, retrain without them",
        description="Train -> score (UltraClean, the sanitize job) -> detect (the default automatic cut) ->"
                    " manifest -> [retrain] on DATA, each stage resumable from OUT; distributed under torchrun.",
        epilog=EXAMPLE, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("data", metavar="DATA", help="ImageFolder tree, tar shards, an .npz, or a built-in set"
                   " (synthetic, fashion-mnist, cifar10, cifar100)")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder (created; a rerun resumes it)")
    p.add_argument("--arch", default="resnet18", metavar="NAME", help="cnn, resnet18 (default), resnet50 or a"
                   " torchvision classifier name")
    p.add_argument("--epochs", type=int, default=10, help="epochs of the suspect model (default 10)")
    p.add_argument("--retrain", action="store_true", help="train a fresh model on the kept samples and report it")
    p.add_argument("--retrain-epochs", type=int, metavar="E", help="epochs of the retrained model (default --epochs)")
    d = p.add_argument_group("data")
    d.add_argument("--format", choices=("folder", "shards", "npz"), help="the kind of DATA (default: detected)")
    d.add_argument("--resize", type=int, metavar="PIXELS", help="scoring/evaluation: shorter side to this size")
    d.add_argument("--crop", type=int, metavar="PIXELS", help="scoring/evaluation: centre crop; training: crop size")
    d.add_argument("--on-error", choices=("raise", "skip"), default="raise", help="unreadable images: stop or skip")
    d.add_argument("--test", metavar="DATA", help="held-out set for the clean accuracy (default: the sidecar's)")
    d.add_argument("--sidecar", metavar="FILE", help="attack record of a poisoned set (default: DATA/../attack.json"
                   " when it names DATA)")
    d.add_argument("--num-classes", type=int, metavar="K", help="classes (default: from the labels)")
    d.add_argument("--mean", type=_floats, help="normalisation mean, 0..1 units (default: estimated)")
    d.add_argument("--std", type=_floats, help="normalisation std, 0..1 units (default: estimated)")
    t = p.add_argument_group("training")
    t.add_argument("--batch-size", type=int, default=128, metavar="B", help="global batch, split across ranks (128)")
    t.add_argument("--micro-batch", type=int, metavar="M", help="samples per forward (batch norm's group; gradients"
                   " accumulate over a rank's micro-batches; default B / processes); the same M gives the same"
                   " training for every number of processes")
    t.add_argument("--precise-bn", type=int, default=4096, metavar="N", help="recompute batch norm's running"
                   " statistics after training over N training samples (default 4096; 0: off)")
    t.add_argument("--optimizer", choices=("sgd", "adamw"), default="sgd")
    t.add_argument("--lr", type=float, help="peak learning rate (default 0.1 x B/256 SGD, 1e-3 x B/512 AdamW)")
    t.add_argument("--momentum", type=float, default=0.9)
    t.add_argument("--weight-decay", type=float, help="default 5e-4 SGD, 0.05 AdamW")
    t.add_argument("--warmup", type=float, default=0.05, help="share of the steps with linear warm-up (0.05)")
    t.add_argument("--label-smoothing", type=float, default=0.0)
    t.add_argument("--augment", choices=("auto", "crop-flip", "resized-crop-flip", "none"), default="auto",
                   help="auto: random-resized-crop + flip when --crop > 64, else crop + flip")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--checkpoint-minutes", type=float, default=10.0, metavar="M",
                   help="resumable checkpoint every M minutes and at every epoch end (0: every step)")
    s = p.add_argument_group("scoring and selection (as ucfast sanitize)")
    s.add_argument("--denoisers", type=_names, default=["median", "nlm"])
    s.add_argument("--method", choices=("auto", "ultraclean"))
    one = s.add_mutually_exclusive_group()
    one.add_argument("--ratio", type=float)
    one.add_argument("--threshold", type=float)
    s.add_argument("--reference", metavar="DATA", help="a small trusted clean data set for the detector (as ucfast"
                   " sanitize --reference)")
    s.add_argument("--score-batch-size", type=int, default=64, metavar="B")
    s.add_argument("--chunk-size", type=int, metavar="C")
    r = p.add_argument_group("how it runs")
    r.add_argument("--workers", type=int, metavar="W", help="DataLoader workers (default: from the CPU count)")
    r.add_argument("--device", help="cpu, cuda or cuda:N (default: cuda:LOCAL_RANK when CUDA is there)")
    r.add_argument("--precision", choices=("auto", "fp32", "bf16"), default="auto")
    r.add_argument("--channels-last", type=_on_off, default=None, metavar="on|off|auto")
    r.add_argument("--compile", action="store_true", help="torch.compile the model")
    r.add_argument("--deterministic", type=_on_off, default=None, metavar="on|off|auto",
                   help="deterministic algorithms (auto: on the CPU)")
    r.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=run)


def _pct(value) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}%"


def summary(report: dict) -> str:
    r = report["results"]
    lines = [f"removed {r['removed']} of {r['samples']} samples ({report['selection']['method']}), kept {r['kept']}",
             f"clean accuracy {_pct(r['ca_before'])} -> {_pct(r['ca_after'])}, attack success rate"
             f" {_pct(r['asr_before'])} -> {_pct(r['asr_after'])}"]
    if "detection" in report:
        d = report["detection"]
        lines.append(f"poisoned removed {d['poisoned_removed']} of {d['poisoned']}, clean removed {d['clean_removed']}")
    lines.append("seconds: " + ", ".join(f"{k} {v:.1f}" for k, v in report["seconds"].items()))
    lines.append(f"outputs in {os.path.dirname(report['files']['suspect'])}: report.json, manifest.csv, manifest.json")
    return "\n".join(lines)


def run(args) -> int:
    from ..clean import CleanSettings, clean

    settings = settings_from(args, CleanSettings)
    return run_job("clean", lambda: clean(args.data, out=args.out, settings=settings), lambda r: summary(r.report))
