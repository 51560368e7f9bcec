"""`mlbuild map-names`: map a list of class names (or tags) to WordNet 3.0 synsets."""
from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path

from mlbuild._util.ownership import check_output_file
from mlbuild.classes import wordnet
from mlbuild.classes.mapping import NameMapper, TagMapper, concepts, map_classes
from mlbuild.classes.mapping.classes import overridden
from mlbuild.classes.mapping.names import Mapping
from mlbuild.classes.mapping.review import format_review, review
from mlbuild.classes.mapping.tables import Override, read_csv, read_equivalents, read_overrides, write_csv
from mlbuild.classes.mapping.tags import read_stop_list
from mlbuild.errors import InputError
from mlbuild.sources.wnids import read_wnid_list

COLUMNS = ("name", "wnid", "synset", "score", "method", "reason", "evidence", "runner_up", "runner_up_score",
           "count")


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `map-names` subcommand."""
    p = sub.add_parser("map-names", help="map class names or tags (one per line) to WordNet 3.0 WNIDs")
    p.add_argument("file", type=Path, nargs="?", help="UTF-8 text, one name per line (blank lines are skipped), "
                                                      "or a .csv with a `name` and an optional `description` column")
    p.add_argument("--out", type=Path, help=f"CSV: {','.join(COLUMNS)}")
    p.add_argument("--review-build", type=Path, metavar="BUILD_DIR",
                   help="instead of mapping: list what to check in a build's source_classes.parquet")
    p.add_argument("--tags", action="store_true", help="lines are tags/hashtags (#goldenretriever): one row per "
                                                       "distinct tag and concept, with the tag's count")
    p.add_argument("--stop-list", type=Path, action="append", default=[], metavar="FILE",
                   help="more tags to leave unmapped, `tag<TAB>kind` (filler, sentiment, non_visual); repeatable")
    p.add_argument("--vocabulary", type=Path, metavar="WNID_LIST",
                   help="prior vocabulary of visual WNIDs (default: the shipped ImageNet-21k list)")
    p.add_argument("--overrides", type=Path, metavar="CSV", help="reviewed answers: name,wnid,note")
    p.add_argument("--equivalents", type=Path, action="append", default=[], metavar="CSV",
                   help="more reviewed multiword equivalents (name,wnid,note) used when a name is not a WordNet "
                        "lemma, on top of the shipped table; repeatable")
    p.add_argument("--min-score", type=float, default=0.3, help="below this a name stays unmapped (%(default)s)")
    p.add_argument("--review", action="store_true",
                   help="print the mappings to check first (low margin, head-noun fallback, qualifier unmet)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Map every line and write the CSV; print the mapped count (and the review list)."""
    if args.review_build:
        print(format_review(review(wordnet.load(), build_mappings(args.review_build))))
        return 0
    if args.file is None or args.out is None:
        raise InputError("map-names", "give a names file and --out (or --review-build BUILD_DIR)")
    check_output_file(args.out, [args.file], csv_header=",".join(COLUMNS))
    names, descriptions = read_input(args.file)
    vocabulary = read_wnid_list(args.vocabulary, strict=False).to_pylist() if args.vocabulary else None
    mapper = NameMapper(vocabulary=vocabulary, min_score=args.min_score,
                        equivalents=read_equivalents(args.equivalents) if args.equivalents else None)
    counts = Counter(names)
    if args.tags:
        distinct = list(counts)
        tagger = TagMapper(mapper, read_stop_list(args.stop_list))
        mappings = [m for found in tagger.map_all(distinct) for m in concepts(found)]
    else:
        ids = [str(i) for i in range(len(names))]
        found = map_classes(mapper, ids, names, descriptions=descriptions)
        mappings = [found[i] for i in ids]
    if args.overrides:
        mappings = apply_overrides(read_overrides(args.overrides, "name", mapper.lex.wn), mappings)
    write_csv(args.out, COLUMNS, (_row(m, counts[m.name]) for m in mappings))
    print(f"{sum(m.mapped for m in mappings):,}/{len(mappings):,} names mapped -> {args.out}")
    if args.review:
        print(format_review(review(mapper.lex.wn, mappings)))
    return 0


def build_mappings(build_dir: Path) -> list[Mapping]:
    """The mappings a build recorded in `source_classes.parquet` (`source:class` as the name)."""
    import pyarrow.parquet as pq

    path = Path(build_dir) / "source_classes.parquet"
    if not path.is_file():
        raise InputError(path, "not found: give a build's output directory")
    wn = wordnet.load()
    out = []
    for r in pq.read_table(path).to_pylist():
        mapped = bool(r["wnid"]) and r["method"] not in ("unmapped",)
        out.append(Mapping(f"{r['source']}:{r['source_class']}", r["wnid"] or "",
                           wn.synset(r["wnid"]).name if mapped else "", r["score"] or 0.0,
                           r["method"], "" if mapped else "unmapped", "", r.get("runner_up") or "",
                           r.get("runner_up_score") or 0.0))
    return out


def apply_overrides(fixed: dict[str, Override], mappings: list[Mapping]) -> list[Mapping]:
    """Reviewed answers replace the mapper's (one row per overridden name)."""
    wn = wordnet.load()
    out, seen = [], set()
    for m in mappings:
        if m.name not in fixed:
            out.append(m)
        elif m.name not in seen:
            seen.add(m.name)
            out.append(overridden(wn, m.name, fixed[m.name]))
    return out


def _row(m: Mapping, count: int) -> tuple:
    return (m.name, m.wnid, m.synset, f"{m.score:.3f}", m.method, m.reason, m.evidence, m.runner_up,
            f"{m.runner_up_score:.3f}", count)


def read_input(path: Path) -> tuple[list[str], list[str] | None]:
    """Names (and descriptions, from a .csv with a `description` column)."""
    if Path(path).suffix.lower() != ".csv":
        return read_names(path), None
    rows = read_csv(path, ("name",))
    names = [row["name"].strip() for _, row in rows]
    for line, row in rows:
        if not row["name"].strip():
            raise InputError(path, "empty name", line=line, field="name")
    if rows and "description" in rows[0][1]:
        return names, [(row["description"] or "").strip() for _, row in rows]
    return names, None


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
