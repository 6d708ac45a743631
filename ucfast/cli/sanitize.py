"""`ucfast sanitize DATA --arch NAME --checkpoint FILE --out DIR [--method M] [--ratio R | --threshold T]`.

The selection is `ucfast.select`'s: with neither --ratio nor --threshold its default (method auto,
the automatic cut); a ratio or threshold alone is the paper's cut (method ultraclean).

Under `torchrun --nproc_per_node=G -m ucfast sanitize ...` every rank scores its share; rank 0
prints the summary. Errors a user can cause end with one line on stderr and exit status 1.
"""
from __future__ import annotations

import argparse

from .jobs import run_job, settings_from

EXAMPLE = """examples:
  ucfast sanitize data/train --arch resnet18 --checkpoint model.pt --out clean/ --ratio 0.05 \\
      --mean 0.4914,0.4822,0.4465 --std 0.247,0.243,0.261
  torchrun --nproc_per_node=8 -m ucfast sanitize /data/imagenet/train --arch resnet50 \\
      --checkpoint suspect.pt --out clean/ --ratio 0.01 --resize 256 --crop 224 \\
      --mean 0.485,0.456,0.406 --std 0.229,0.224,0.225 --batch-size 256
A rerun of the same command resumes an interrupted job; outputs are in OUT (see report.json)."""


def _floats(text: str) -> list[float]:
    try:
        return [float(v) for v in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected one number or three comma-separated ones, got {text!r}") from None


def _ints(text: str) -> list[int]:
    try:
        return [int(v) for v in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated class indices, got {text!r}") from None


def _names(text: str) -> list[str]:
    return [v for v in text.split(",") if v]


def _on_off(text: str) -> bool | None:
    value = {"on": True, "off": False, "auto": None}.get(text)
    if text not in ("on", "off", "auto"):
        raise argparse.ArgumentTypeError(f"expected on, off or auto, got {text!r}")
    return value


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "sanitize", help="score a whole dataset with a suspect model and list the samples to remove",
        description="Score every sample of DATA with the suspect model (UltraClean: the model's output on the"
                    " image vs on its denoised variants), remove the most susceptible, write the scores,"
                    " a manifest and a report to OUT. Resumable; distributed under torchrun.",
        epilog=EXAMPLE, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("data", metavar="DATA",
                   help="ImageFolder tree (DATA/<class>/<image>), tar shards (folder of .tar, a .tar, a glob or"
                        " shard-{0000..0099}.tar) or an .npz with images and labels")
    p.add_argument("--format", choices=("folder", "shards", "npz"), help="the kind of DATA (default: detected)")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder (created; a rerun resumes it)")
    p.add_argument("--force", action="store_true",
                   help="write into an --out that holds files no ucfast sanitize job wrote (refused without it)")
    p.add_argument("--verify", action="store_true",
                   help="the resume fingerprint also hashes every data file's content (reads the data once more);"
                        " give it on every run of a job or on none")
    m = p.add_argument_group("model")
    m.add_argument("--arch", metavar="NAME", help="architecture of a state-dict checkpoint: cnn, resnet18, resnet50"
                   " or a torchvision classifier name (not needed for TorchScript / torch.export files)")
    m.add_argument("--checkpoint", required=True, metavar="FILE",
                   help="state dict (loaded with weights_only=True), TorchScript file or torch.export .pt2 file")
    m.add_argument("--num-classes", type=int, metavar="K", help="classes of the model (default: from the checkpoint)")
    m.add_argument("--mean", type=_floats, help="normalisation mean in 0..1 units, one or three numbers (default 0;"
                   " report.json records when it defaulted)")
    m.add_argument("--std", type=_floats, help="normalisation std in 0..1 units, one or three numbers (default 1;"
                   " report.json records when it defaulted)")
    s = p.add_argument_group("selection")
    s.add_argument("--method", choices=("auto", "ultraclean"),
                   help="auto: the two-sided detector (ucfast.detect), which cuts by itself when no ratio or"
                        " threshold is given; ultraclean: the paper's score (default: ultraclean with --ratio or"
                        " --threshold, auto without)")
    one = s.add_mutually_exclusive_group()
    one.add_argument("--ratio", type=float, help="remove the top floor(R * N) samples by the ranked value (0 < R < 1)")
    one.add_argument("--threshold", type=float, help="remove every sample whose ranked value is >= T")
    s.add_argument("--per-class", action="store_true",
                   help="rank robust per-class z-scores of the score instead of raw scores (ultraclean only)")
    s.add_argument("--classes", type=_ints, help="only samples with these labels are candidates (e.g. 0,3)")
    s.add_argument("--reference", metavar="DATA",
                   help="a small trusted clean data set (any format DATA can be, labelled with DATA's classes; e.g."
                        " 1%% of it, checked by hand): scored by the same model, it tells the detector which group of"
                        " a flagged class is genuine where its evidence is decisive (method auto only)")
    d = p.add_argument_group("images and scoring")
    d.add_argument("--resize", type=int, metavar="PIXELS", help="scale the shorter side to this size (bilinear)")
    d.add_argument("--crop", type=int, metavar="PIXELS", help="centre crop to PIXELS x PIXELS")
    d.add_argument("--on-error", choices=("raise", "skip"), default="raise",
                   help="an unreadable, corrupt or truncated image: stop (default) or report it and go on")
    d.add_argument("--denoisers", type=_names, default=["median", "nlm"], help="comma-separated (default median,nlm)")
    d.add_argument("--space", choices=("softmax", "logits"), default="softmax")
    d.add_argument("--distance", choices=("l1", "l2", "kl"), default="l1")
    d.add_argument("--amplify", type=float, default=1.0, help="residual amplification beta (1: the paper)")
    d.add_argument("--features", type=lambda v: False if v == "off" else v, default="auto", metavar="auto|off|MODULE",
                   help="penultimate features kept (features.npy) for the default detector: auto (the input of the"
                        " model's last Linear layer, when it has one), off, or a module name")
    r = p.add_argument_group("engine")
    r.add_argument("--batch-size", type=int, default=64, metavar="B", help="images per batch (default 64)")
    r.add_argument("--chunk-size", type=int, metavar="C",
                   help="positions per committed chunk (default: about 32 chunks, at most 16 * B positions each)")
    r.add_argument("--workers", type=int, metavar="W", help="DataLoader workers (default: from the CPU count)")
    r.add_argument("--device", help="cpu, cuda or cuda:N (default: cuda:LOCAL_RANK when CUDA is there, else cpu)")
    r.add_argument("--precision", choices=("auto", "fp32", "bf16"), default="auto",
                   help="model precision: bf16 autocast on CUDA by default, fp32 on the CPU")
    r.add_argument("--channels-last", type=_on_off, default=None, metavar="on|off|auto",
                   help="channels_last model input (auto: on CUDA)")
    r.add_argument("--compile", action="store_true", help="torch.compile the model")
    r.add_argument("--cuda-graphs", action="store_true", help="replay the model forward from CUDA graphs")
    r.add_argument("--gpu-decode", action="store_true", help="decode JPEGs on the GPU (torchvision.io.decode_jpeg)")
    r.add_argument("--backend", choices=("auto", "cuda", "triton", "cpu", "torch"), default="auto",
                   help="implementation of the denoising ops (default auto, or $UCFAST_BACKEND)")
    r.add_argument("--profile", action="store_true", help="synchronise the GPU to time denoising and model apart")
    r.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def _summary(result) -> str:
    rep, run = result.report, result.run
    c, sel = rep["counts"], rep["selection"]
    rate = run["images_per_s"]
    lines = [
        f"scored {c['scored']} of {c['samples']} samples"
        + (f" ({c['unreadable']} unreadable, listed in report.json)" if c["unreadable"] else "")
        + (f"; {run['chunks_reused']} of {run['chunks']} chunks reused from an earlier run"
           if run["chunks_reused"] else ""),
        f"this run: {run['images_scored_now']} images in {run['wall_s']:.1f} s"
        + (f" ({rate:.1f} images/s)" if rate else ""),
    ]
    cutoff = "none" if sel["cutoff"] is None else f"{sel['cutoff']:.6g}"
    lines.append(f"removed {c['removed']}, kept {c['kept']} ({sel['method']}; cutoff {cutoff})")
    if sel["assumptions"] is not None:
        lines.append("the automatic cut's rule and assumptions: report.json, selection.assumptions")
    defaulted = rep["settings"].get("defaulted", [])
    if defaulted:
        lines.append(f"note: {' and '.join('--' + d for d in defaulted)} not given: the model saw pixels normalised"
                     " with mean 0, std 1 (0..1 units); give the model's own if it was trained with others")
    lines.extend(f"warning: {w}" for w in run.get("warnings", []))
    files = ["manifest.csv", "manifest.json", "scores.npy", "report.json"]
    if rep["histogram"] == "histogram.png":
        files.append("histogram.png")
    lines.append(f"outputs in {result.out}: {', '.join(files)}")
    return "\n".join(lines)


def run(args) -> int:
    from ..sanitize import SanitizeSettings, sanitize

    settings = settings_from(args, SanitizeSettings)
    return run_job("sanitize", lambda: sanitize(args.data, out=args.out, settings=settings), _summary)
