"""The `ucfast` command line: one sub-command per module of this package, each adding its own parser.

    demo       ucfast/cli/demo.py       the whole loop on a small dataset
    info       ucfast/cli/info.py       what was built, which backends can run here
    sanitize   ucfast/cli/sanitize.py   score a whole dataset and list what to remove
    clean      ucfast/cli/clean.py      train -> score -> detect -> retrain on a dataset on disk
"""
from __future__ import annotations

import argparse
import importlib

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
    return int(args.func(args) or 0)

