"""`mlbuild dedup`: training images within Hamming distance K of evaluation images."""
from __future__ import annotations

import argparse
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from mlbuild._util.ownership import check_output_file
from mlbuild._util.parquet import read_table, write_table
from mlbuild.errors import InputError
from mlbuild.images.hash_keys import KEYS
from mlbuild.images.neardup import (
    DEFAULT_CHECK_DISTANCE,
    DEFAULT_EXTRA_DISTANCE,
    DEFAULT_MAX_DISTANCE,
    MAX_DISTANCE,
    Limits,
    dedup_keys,
    plain_keys,
)
from mlbuild.images.phash import KINDS


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `dedup` subcommand."""
    p = sub.add_parser("dedup", help="near-duplicate pairs of training x evaluation hashes -> Parquet")
    p.add_argument("--train", type=Path, required=True, metavar="HASHES",
                   help="Parquet from `mlbuild hash` (one hash per image) or `mlbuild hash --keys train`")
    p.add_argument("--eval", action="append", required=True, metavar="[NAME=]HASHES",
                   help="an evaluation set's hashes; named after the file stem unless NAME= is given; repeat")
    p.add_argument("--max-distance", type=int, default=DEFAULT_MAX_DISTANCE, metavar="K",
                   choices=range(MAX_DISTANCE + 1),
                   help="largest Hamming distance that counts as a duplicate (default: %(default)s)")
    p.add_argument("--extra-distance", type=int, default=DEFAULT_EXTRA_DISTANCE, metavar="K",
                   choices=range(MAX_DISTANCE + 1),
                   help="K for any key pair but plain x plain (mirrored, trimmed, crops; default: %(default)s)")
    p.add_argument("--check-distance", type=int, default=DEFAULT_CHECK_DISTANCE, metavar="C",
                   choices=range(65), help="largest check-signature distance, when both sides have checks "
                                           "(`mlbuild hash --keys`; default: %(default)s)")
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


def read_hashes(path: Path) -> tuple[pa.Table, str, bool]:
    """The search keys of a hashes file, its hash kind, and whether its keys carry check signatures.

    A file of `mlbuild hash --keys` is read as it is; a file of `mlbuild hash` (image_id and one
    phash or dhash column) gives one plain key per hashed image, without check signature.
    """
    try:
        schema = pq.read_schema(path)
    except (OSError, pa.ArrowInvalid) as err:
        raise InputError(path, f"not a readable Parquet file: {err}") from err
    if set(KEYS.names) <= set(schema.names):
        kind = (schema.metadata or {}).get(b"mlbuild.hash_kind", b"phash").decode()
        return read_table(path, columns=KEYS.names).cast(KEYS), kind, kind == "phash"
    kinds = [k for k in KINDS if k in schema.names]
    if "image_id" not in schema.names or len(kinds) != 1:
        raise InputError(path, f"needs image_id and exactly one of {', '.join(KINDS)} columns, or the columns "
                               f"of `mlbuild hash --keys` ({', '.join(KEYS.names)}); has {', '.join(schema.names)}")
    if schema.field(kinds[0]).type != pa.uint64():
        raise InputError(path, f"hash column must be uint64, is {schema.field(kinds[0]).type}",
                         field=kinds[0])
    return plain_keys(read_table(path, columns=["image_id", kinds[0]]), kinds[0]), kinds[0], False


def run(args: argparse.Namespace) -> int:
    """Read the keys, search, write the pairs atomically, print a summary."""
    specs = eval_sets(args.eval)
    check_output_file(args.out, inputs=[args.train, *specs.values()])
    train, kind, checked = read_hashes(args.train)
    evals = {}
    for name, path in specs.items():
        evals[name], eval_kind, eval_checked = read_hashes(path)
        checked &= eval_checked
        if eval_kind != kind:
            raise InputError(path, f"has {eval_kind} hashes but {args.train} has {kind}", field=eval_kind)
    limits = Limits(args.max_distance, args.extra_distance, args.check_distance if checked else 64)
    pairs = dedup_keys(train, evals, limits)
    write_table(pairs.replace_schema_metadata({"mlbuild.output": "dedup_pairs"}), args.out)
    per_set = ", ".join(f"{name}: {pc.sum(pc.equal(pairs['eval_set'], name)).as_py() or 0:,}"
                        for name in evals)
    print(f"{len(pairs):,} pairs within {args.max_distance} ({kind}); "
          f"{pc.count_distinct(pairs['image_id']).as_py():,} training images to drop ({per_set}) -> {args.out}")
    return 0
