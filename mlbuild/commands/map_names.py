"""`mlbuild map-names`: map a list of class names (or tags) to WordNet 3.0 synsets."""
from __future__ import annotations

import argparse
from pathlib import Path

from mlbuild.classes import wordnet
from mlbuild.classes.mapping import map_names
from mlbuild.classes.mapping.classes import overridden
from mlbuild.classes.mapping.tables import read_overrides, write_csv
from mlbuild.errors import InputError
from mlbuild.sources.wnids import read_wnid_list

COLUMNS = ("name", "wnid", "synset", "score", "method", "reason", "evidence")


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `map-names` subcommand."""
    p = sub.add_parser("map-names", help="map class names or tags (one per line) to WordNet 3.0 WNIDs")
    p.add_argument("file", type=Path, help="UTF-8 text, one name per line (blank lines are skipped)")
    p.add_argument("--out", type=Path, required=True, help="CSV: name,wnid,synset,score,method,reason,evidence")
    p.add_argument("--tags", action="store_true", help="lines are tags/hashtags (#goldenretriever)")
    p.add_argument("--vocabulary", type=Path, metavar="WNID_LIST",
                   help="prior vocabulary of visual WNIDs, e.g. imagenet22k_synsets.txt")
    p.add_argument("--overrides", type=Path, metavar="CSV", help="reviewed answers: name,wnid,note")
    p.add_argument("--min-score", type=float, default=0.3, help="below this a name stays unmapped (%(default)s)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Map every line and write the CSV; print the mapped count."""
    names = read_names(args.file)
    vocabulary = read_wnid_list(args.vocabulary, strict=False).to_pylist() if args.vocabulary else []
    mappings = map_names(names, tags=args.tags, vocabulary=vocabulary, min_score=args.min_score)
    if args.overrides:
        wn = wordnet.load()
        fixed = read_overrides(args.overrides, "name", wn)
        mappings = [overridden(wn, m.name, fixed[m.name]) if m.name in fixed else m for m in mappings]
    write_csv(args.out, COLUMNS, ((m.name, m.wnid, m.synset, f"{m.score:.3f}", m.method, m.reason, m.evidence)
                                  for m in mappings))
    print(f"{sum(m.mapped for m in mappings):,}/{len(mappings):,} names mapped -> {args.out}")
    return 0


def read_names(path: Path) -> list[str]:
    """The non-blank lines of a UTF-8 file, stripped."""
    names = []
    with open(path, "rb") as fh:
        for number, raw in enumerate(fh, start=1):
            try:
                line = raw.decode("utf-8").lstrip("\ufeff").strip()
            except UnicodeDecodeError as err:
                raise InputError(path, f"not UTF-8 ({err.reason})", line=number) from None
            if line:
                names.append(line)
    return names
