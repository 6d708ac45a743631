"""The `ucfast` command line: one sub-command per module of this package, each adding its own parser.

    demo       ucfast/cli/demo.py       the whole loop on a small dataset
    info       ucfast/cli/info.py       what was built, which backends can run here
    sanitize   ucfast/cli/sanitize.py   score a whole dataset and list what to remove
    clean      ucfast/cli/clean.py      train -> score -> detect -> retrain on a dataset on disk
"""
from __future__ import annotations

import argparse
import importlib
import os
import sys
import traceback

from ..sanitize import distributed

# Sub-command name -> module with `add_parser(subparsers)` that sets `func(args) -> int`.
COMMANDS = {
    "sanitize": "ucfast.cli.sanitize",
    "clean": "ucfast.cli.clean",
    "demo": "ucfast.cli.demo",
    "info": "ucfast.cli.info",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ucfast", description="Find poisoned samples in image training sets.")
    sub = parser.add_subparsers(dest="command", required=True)
    for module in COMMANDS.values():
        importlib.import_module(module).add_parser(sub)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    if distributed.requested():
        end_rank(run_rank(args))
    return int(args.func(args) or 0)


def run_rank(args) -> int:
    """One rank's exit status; its error, if any, printed with its traceback."""
    try:
        return int(args.func(args) or 0)
    except SystemExit as e:
        if e.code is None or isinstance(e.code, int):
            return e.code or 0
        print(e.code, file=sys.stderr)
        return 1
    except BaseException:
        traceback.print_exc()
        return 1


def end_rank(code: int) -> None:
    """End a torchrun rank at once, without the interpreter's finalisation. The job is done by then: its
    outputs are written and its process group is destroyed. But torch's teardown at exit now and then
    aborts a gloo rank there (SIGABRT, 'terminate called without an active exception'; seen on 1 of 14
    two-rank runs on a loaded machine, after its summary was printed), and torchrun then reports
    a finished run as failed."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)

