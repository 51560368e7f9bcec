"""`mlbuild inspect DIR`: a readable summary of a finished build."""
from __future__ import annotations

import argparse
from pathlib import Path

from mlbuild.manifests.summary import summarize


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `inspect` subcommand."""
    p = sub.add_parser("inspect", help="summarize a build: sources, splits, classes, labels, depth")
    p.add_argument("out", type=Path, help="a folder written by `mlbuild build`")
    p.add_argument("--top", type=int, default=10, help="how many top / bottom classes to list")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Print the summary."""
    print(summarize(args.out, args.top))
    return 0
