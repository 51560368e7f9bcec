"""`mlbuild vocab`: a class vocabulary with hierarchy from WNID lists."""
from __future__ import annotations

import argparse
from pathlib import Path

from mlbuild._util.ownership import claim_output_dir
from mlbuild.classes.taxonomy import DEFAULT_RELATIONS
from mlbuild.classes.vocabulary import build_vocabulary, source_name, write_vocabulary


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `vocab` subcommand."""
    p = sub.add_parser("vocab", help="build classes.parquet + hierarchy.parquet from WNID lists")
    p.add_argument("--wnids", action="append", required=True, metavar="[NAME=]FILE",
                   help="a WNID list (first token per line); repeat to merge several sources")
    p.add_argument("--relations", default=",".join(DEFAULT_RELATIONS),
                   help="WordNet relations that make parents (default: %(default)s; "
                        "add part_holonym for part-of)")
    p.add_argument("--out", type=Path, required=True, help="output directory")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Build and write the vocabulary, then print a one-line summary."""
    claim_output_dir(args.out, "vocab", inputs=[source_name(spec)[1] for spec in args.wnids])
    tax = build_vocabulary(args.wnids, [r.strip() for r in args.relations.split(",") if r.strip()])
    classes_path, _ = write_vocabulary(tax, args.out)
    dag = tax.dag
    edges = sum(len(p) for p in dag.parents)
    print(f"{len(dag.wnids):,} classes, {edges:,} parent edges, {len(tax.roots()):,} roots, "
          f"max depth {max(dag.depth, default=0)} -> {classes_path.parent}")
    return 0
