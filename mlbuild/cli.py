"""The `mlbuild` command line: one subcommand per module in `mlbuild.commands`.

Each command module defines `register(subparsers)`, which adds its parser and
sets `func(args) -> int`; so commands are added without editing this file.
"""
from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

from mlbuild import __version__, commands
from mlbuild.errors import MlbuildError


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser, with every registered subcommand."""
    parser = argparse.ArgumentParser(
        prog="mlbuild", description="Build WordNet-normalized, hierarchy-consistent, decontaminated "
                                    "multi-label image datasets from ImageNet-21k, Open Images and your own lists.")
    parser.add_argument("--version", action="version", version=f"mlbuild {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        importlib.import_module(f"mlbuild.commands.{info.name}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script; returns the exit status."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except MlbuildError as err:
        print(f"mlbuild {args.command}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
