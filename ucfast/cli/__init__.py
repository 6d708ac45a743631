"""The `ucfast` command line: one sub-command per module, each adding its own parser."""
from __future__ import annotations

import argparse
import importlib
import sys

# Sub-command name -> module with `add_parser(subparsers)` that sets `func(args) -> int`.
COMMANDS = {
    "sanitize": "ucfast.cli_sanitize",
    "demo": "ucfast.cli_demo",
    "info": "ucfast.cli_info",
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


if __name__ == "__main__":
    sys.exit(main())
