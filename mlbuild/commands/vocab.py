"""`mlbuild vocab`: a class vocabulary with hierarchy from WNID lists."""
from __future__ import annotations

import argparse
from pathlib import Path

from mlbuild._util.ownership import claim_output_dir
from mlbuild.classes.taxonomy import DEFAULT_RELATIONS
from mlbuild.classes.vocabulary import build_vocabulary, source_name, write_vocabulary
from mlbuild.errors import MlbuildError
from mlbuild.sources.hierarchies import FORMATS


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `vocab` subcommand."""
    p = sub.add_parser("vocab", help="build classes.parquet + hierarchy.parquet from WNID lists")
    p.add_argument("--wnids", action="append", default=[], metavar="[NAME=]FILE",
                   help="a WNID list (first token per line); repeat to merge several sources")
    p.add_argument("--vocabulary", type=Path, metavar="FILE",
                   help="fix the classes: exactly these WNIDs (one per line, optional TAB name), in this order")
    p.add_argument("--hierarchy", type=Path, metavar="FILE", help="a published hierarchy whose edges give parents "
                   "(its classes are the vocabulary unless --vocabulary is given)")
    p.add_argument("--hierarchy-format", choices=FORMATS, help="format of --hierarchy")
    p.add_argument("--tree", action="store_true", help="one parent per class (rule: docs/taxonomy.md)")
    p.add_argument("--relations", default=",".join(DEFAULT_RELATIONS),
                   help="WordNet relations that make parents (default: %(default)s; "
                        "add part_holonym for part-of)")
    p.add_argument("--out", type=Path, required=True, help="output directory")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Build and write the vocabulary, then print a one-line summary."""
    if not (args.wnids or args.vocabulary or args.hierarchy):
        raise MlbuildError("give --wnids, --vocabulary or --hierarchy")
    if args.hierarchy is not None and args.hierarchy_format is None:
        raise MlbuildError("--hierarchy needs --hierarchy-format")
    inputs = [source_name(spec)[1] for spec in args.wnids or []]
    inputs += [Path(p) for p in (args.vocabulary, args.hierarchy) if p is not None]
    claim_output_dir(args.out, "vocab", inputs=inputs)
    hierarchy = (args.hierarchy, args.hierarchy_format) if args.hierarchy is not None else None
    tax = build_vocabulary(args.wnids, [r.strip() for r in args.relations.split(",") if r.strip()],
                           args.vocabulary, hierarchy, args.tree)
    classes_path, _ = write_vocabulary(tax, args.out)
    dag = tax.dag
    edges = sum(len(p) for p in dag.parents)
    print(f"{len(dag.wnids):,} classes, {edges:,} parent edges, {len(tax.roots()):,} roots, "
          f"max depth {max(dag.depth, default=0)} -> {classes_path.parent}")
    return 0
