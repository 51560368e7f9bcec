"""`mlbuild dedup`: training images within Hamming distance K of evaluation images."""
from __future__ import annotations

import argparse
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from mlbuild._util.parquet import read_table, write_table
from mlbuild.errors import InputError
from mlbuild.images.neardup import DEFAULT_MAX_DISTANCE, MAX_DISTANCE, dedup_pairs
from mlbuild.images.phash import KINDS


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `dedup` subcommand."""
    p = sub.add_parser("dedup", help="near-duplicate pairs of training x evaluation hashes -> Parquet")
    p.add_argument("--train", type=Path, required=True, metavar="HASHES",
                   help="Parquet with image_id and a phash or dhash column (from `mlbuild hash`)")
    p.add_argument("--eval", action="append", required=True, metavar="[NAME=]HASHES",
                   help="an evaluation set's hashes; named after the file stem unless NAME= is given; repeat")
    p.add_argument("--max-distance", type=int, default=DEFAULT_MAX_DISTANCE, metavar="K",
                   choices=range(MAX_DISTANCE + 1),
                   help="largest Hamming distance that counts as a duplicate (default: %(default)s)")
    p.add_argument("--out", type=Path, required=True, help="output Parquet (dedup_pairs.parquet)")
    p.set_defaults(func=run)


def eval_sets(specs: list[str]) -> dict[str, Path]:
    """NAME=PATH or PATH specs -> {name: path}, refusing a name given twice."""
    sets: dict[str, Path] = {}
    for spec in specs:
        name, sep, path = spec.partition("=")
        path = Path(path if sep else spec)
        name = name if sep else path.stem
        if not name or name in sets:
            raise InputError(path, f"evaluation set name {name!r} is empty or given twice; use NAME=PATH")
        sets[name] = path
    return sets


def read_hashes(path: Path) -> tuple[pa.Table, str]:
    """image_id and the hash column of a hashes file, with the column's name."""
    try:
        schema = pq.read_schema(path)
    except (OSError, pa.ArrowInvalid) as err:
        raise InputError(path, f"not a readable Parquet file: {err}") from err
    kinds = [k for k in KINDS if k in schema.names]
    if "image_id" not in schema.names or len(kinds) != 1:
        raise InputError(path, f"needs image_id and exactly one of {', '.join(KINDS)} columns; "
                               f"has {', '.join(schema.names)}")
    if schema.field(kinds[0]).type != pa.uint64():
        raise InputError(path, f"hash column must be uint64, is {schema.field(kinds[0]).type}",
                         field=kinds[0])
    return read_table(path, columns=["image_id", kinds[0]]), kinds[0]


def run(args: argparse.Namespace) -> int:
    """Read the hashes, search, write the pairs atomically, print a summary."""
    train, kind = read_hashes(args.train)
    evals = {}
    for name, path in eval_sets(args.eval).items():
        evals[name], eval_kind = read_hashes(path)
        if eval_kind != kind:
            raise InputError(path, f"has {eval_kind} hashes but {args.train} has {kind}", field=eval_kind)
    pairs = dedup_pairs(train, evals, args.max_distance, column=kind)
    write_table(pairs, args.out)
    per_set = ", ".join(f"{name}: {pc.sum(pc.equal(pairs['eval_set'], name)).as_py() or 0:,}"
                        for name in evals)
    print(f"{len(pairs):,} pairs within {args.max_distance} ({kind}); "
          f"{pc.count_distinct(pairs['image_id']).as_py():,} training images to drop ({per_set}) -> {args.out}")
    return 0
