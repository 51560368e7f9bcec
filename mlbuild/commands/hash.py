"""`mlbuild hash`: perceptual hashes of a folder of images or of a manifest's files."""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from mlbuild._util.ownership import check_output_file
from mlbuild._util.parquet import read_table, write_table
from mlbuild.engines.local import LocalEngine
from mlbuild.errors import InputError
from mlbuild.images.phash import KINDS
from mlbuild.images.sharded import hash_files

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp", ".tif", ".tiff"}
LISTING = pa.schema([("image_id", pa.string()), ("path", pa.string())])
CHUNK = 256  # images per task: large enough to amortize pickling, small enough to balance


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `hash` subcommand."""
    p = sub.add_parser("hash", help="perceptual hashes of images -> Parquet (image_id, path, hash)")
    p.add_argument("images", type=Path, metavar="IMAGES_DIR_OR_MANIFEST",
                   help="a folder (searched recursively; image_id = path relative to it) or a "
                        "Parquet manifest with image_id and path columns")
    p.add_argument("--out", type=Path, required=True, help="output Parquet file")
    p.add_argument("--kind", choices=KINDS, default="phash", help="hash kind (default: %(default)s)")
    p.add_argument("--fast", action="store_true",
                   help="reduced-scale JPEG decoding and batched DCT (not bit-identical; see docs/dedup.md)")
    p.add_argument("--keys", choices=("train", "eval"),
                   help="write search keys (image_id, transform, hash, check) instead of one hash per image: "
                        "train = plain and trimmed, eval = also mirrored and centre crops (docs/dedup.md)")
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                   help="processes (default: %(default)s)")
    p.set_defaults(func=run)


def list_folder(root: Path) -> pa.Table:
    """Every image file under root, sorted: image_id (relative POSIX path) and path."""
    files = sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    return pa.table({"image_id": [p.relative_to(root).as_posix() for p in files],
                     "path": [str(p) for p in files]}, schema=LISTING)


def list_manifest(path: Path) -> pa.Table:
    """image_id and path of a Parquet manifest, sorted by image_id."""
    try:
        names = pq.read_schema(path).names
    except (OSError, pa.ArrowInvalid) as err:
        raise InputError(path, f"not a readable Parquet manifest: {err}") from err
    for column in LISTING.names:
        if column not in names:
            raise InputError(path, f"manifest has no {column} column (has {', '.join(names)})", field=column)
    return read_table(path, columns=LISTING.names).cast(LISTING).sort_by("image_id")


def run(args: argparse.Namespace) -> int:
    """Hash, write atomically, print a summary."""
    check_output_file(args.out, inputs=[args.images])
    if args.images.is_dir():
        listing = list_folder(args.images)
    elif args.images.is_file():
        listing = list_manifest(args.images)
    else:
        raise InputError(args.images, "no such folder or manifest")
    table, keys, report = hash_files(LocalEngine(max(1, args.workers)), listing, args.kind, args.fast,
                                     role=args.keys or "plain", shard_rows=CHUNK)
    metadata = {"mlbuild.hash_kind": args.kind, "mlbuild.hash_fast": str(args.fast).lower()}
    if args.keys:
        metadata["mlbuild.key_role"] = args.keys
    write_table((keys if args.keys else table).replace_schema_metadata(metadata), args.out)
    paths = listing["path"]
    for line, why in report.examples[:5]:
        print(f"skipped row {line} ({paths[line - 1]}): {why}", file=sys.stderr)
    hashed = len(table) - table[args.kind].null_count
    print(f"{hashed:,} of {len(table):,} images hashed ({args.kind}{', fast' if args.fast else ''}), "
          f"{report.count:,} undecodable -> {args.out}")
    return 0 if hashed or not len(table) else 1
