"""`ucfast demo`: the whole UltraClean loop on a small dataset, with one summary table.

Errors a user can cause end with one line on stderr and exit status 1.
"""
from __future__ import annotations

import argparse
import sys

from ..attacks import ATTACKS
from ..data import NAMES as DATASETS
from ..demo import DEFAULTS


def _ratio(text: str) -> float | str:
    if text == "auto":
        return text
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a fraction in (0, 1) or 'auto', got {text!r}") from None


def _count(text: str) -> int | None:
    if text == "all":
        return None
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer or 'all', got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer or 'all', got {text!r}")
    return value


def add_parser(subparsers) -> None:
    d = DEFAULTS
    p = subparsers.add_parser(
        "demo", help="poison -> train -> score -> select -> retrain -> report, on a built-in dataset",
        description="Poison a training set, train a model on it, score every sample with UltraClean, remove the"
                    " most susceptible, retrain, and report clean accuracy and attack success before and after"
                    " with the detection metrics. The defaults run in a few minutes on a laptop CPU.")
    p.add_argument("--dataset", default=d["dataset"],
                   help=f"{', '.join(DATASETS)} (default %(default)s; synthetic is built in)")
    p.add_argument("--root", help="dataset location (folder, or the .npz file) for datasets that need one")
    p.add_argument("--attack", default=d["attack"], help=f"{', '.join(ATTACKS)} (default %(default)s)")
    p.add_argument("--poison-rate", type=float, default=d["poison_rate"],
                   help="share of the training set poisoned (default %(default)s)")
    p.add_argument("--target", type=int, default=d["target"], help="target class (default %(default)s)")
    p.add_argument("--ratio", type=_ratio, default=d["ratio"], metavar="R|auto",
                   help="share of the training set removed by score before retraining, or auto: the two-sided"
                        " detector's automatic cut, no poison rate needed (ucfast.select method='auto')"
                        " (default %(default)s)")
    p.add_argument("--epochs", type=int, default=d["epochs"], help="training epochs, each run (default %(default)s)")
    p.add_argument("--model", default=d["model"], help="cnn, resnet18, resnet50 or a torchvision name (default %(default)s)")
    p.add_argument("--n-train", type=_count, default=d["n_train"], metavar="N|all",
                   help="training images, a seeded subset (default %(default)s)")
    p.add_argument("--n-test", type=_count, default=d["n_test"], metavar="N|all",
                   help="test images (default %(default)s)")
    p.add_argument("--device", help="cpu, cuda or cuda:N (default: cuda when available, else cpu)")
    p.add_argument("--backend", choices=("auto", "cuda", "triton", "cpu", "torch"), default="auto",
                   help="implementation of the denoising ops (default auto, or $UCFAST_BACKEND)")
    p.add_argument("--out", default=d["out"], help="output folder (default ./%(default)s)")
    p.add_argument("--seed", type=int, default=d["seed"], help="seed of data, poisoning and training (default %(default)s)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=main)


def main(args) -> int:
    from ..ops.backends import BackendUnavailable
    from ..demo import format_table, run

    try:
        report = run(dataset=args.dataset, root=args.root, attack=args.attack, poison_rate=args.poison_rate,
                     target=args.target, ratio=args.ratio, epochs=args.epochs, model=args.model, device=args.device,
                     out=args.out, seed=args.seed, n_train=args.n_train, n_test=args.n_test, backend=args.backend,
                     progress=not args.no_progress)
    except (ValueError, TypeError, OSError, BackendUnavailable) as e:
        print(f"ucfast demo: error: {e}", file=sys.stderr)
        return 1
    print(format_table(report))
    return 0
