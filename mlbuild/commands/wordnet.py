"""`mlbuild wordnet`: export the WordNet 3.0 snapshot, or look synsets up."""
from __future__ import annotations

import argparse
from pathlib import Path

from mlbuild.classes import wordnet
from mlbuild.classes.wordnet.export import export


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `wordnet` subcommand with `export` and `lookup`."""
    p = sub.add_parser("wordnet", help="WordNet 3.0 snapshot: export, lookup")
    verbs = p.add_subparsers(dest="verb", required=True)
    ex = verbs.add_parser("export", help="regenerate the snapshot from a WordNet 3.0 dict directory")
    ex.add_argument("--dict", type=Path, required=True, help="e.g. /usr/share/wordnet (Debian wordnet-base)")
    ex.add_argument("--out", type=Path, required=True)
    ex.set_defaults(func=run_export)
    lk = verbs.add_parser("lookup", help="show the synsets of WNIDs, synset names or words")
    lk.add_argument("keys", nargs="+")
    lk.set_defaults(func=run_lookup)


def run_export(args: argparse.Namespace) -> int:
    """Write the snapshot."""
    table = export(args.dict, args.out)
    print(f"{table.num_rows:,} noun synsets -> {args.out}")
    return 0


def run_lookup(args: argparse.Namespace) -> int:
    """Print each key's synsets: WNID, name, lemmas, gloss."""
    wn = wordnet.load()
    for key in args.keys:
        found = [wn.synset(key)] if wn.has(key) else wn.lookup(key)
        for syn in found:
            print(f"{key}\t{syn.wnid}\t{syn.name}\t{', '.join(syn.lemmas)}\t{syn.gloss}")
        if not found:
            print(f"{key}\t-\tnot a WordNet 3.0 noun")
    return 0
