"""`mlbuild report DIR --out report.html`: one self-contained HTML page about a finished build."""
from __future__ import annotations

import argparse
from pathlib import Path

from mlbuild.manifests.report import write_report


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `report` subcommand."""
    p = sub.add_parser("report", help="write an HTML report of a build: plots, tables, datasheet (offline)")
    p.add_argument("out", type=Path, help="a folder written by `mlbuild build`")
    p.add_argument("--out", dest="html", type=Path, required=True, help="the HTML file to write")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Write the report and say where."""
    print(f"report -> {write_report(args.out, args.html)}")
    return 0
