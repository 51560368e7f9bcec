"""Build stage: hash the images a build can see, and mark training images that duplicate others.

Two kinds of duplicates are marked in the `dedup` column (rows stay in the manifest, so
every decision is auditable; consumers train on rows where `dedup` is null):
- `duplicate_of:<image_id>`: the same Flickr photo (or the same URL) as another training
  image from any source; the kept image carries the union of both images' labels;
- `train_near_duplicate_of:<image_id>` (`[dedup] within_train`): within Hamming distance K of
  another training image, directly or through a chain of such images; collapsed the same way;
- `near_duplicate:<eval_image_id>`: a key of the training image (its perceptual hash, or the
  hash inside its uniform borders) matches a key of an evaluation image (the image itself,
  mirrored, trimmed, or a centre crop; `mlbuild.images.hash_keys`), reported with the
  transform and distance in `dedup_pairs.parquet`.
Hashes come from local files (`path`); images known only by URL are hashed once downloaded.
Images that could not be hashed are counted per source, split and reason (`unhashed`).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from mlbuild.engines.local import Engine
from mlbuild.images.hash_keys import FAILURES, key_table
from mlbuild.images.neardup import PAIRS, Limits, dedup_keys
from mlbuild.images.sharded import hash_files

HashCounts = dict[str, dict[str, dict[str, int]]]  # {source: {split: {reason or "hashed": count}}}


@dataclass(frozen=True)
class EvalHashes:
    """The evaluation images' search keys, shipped once to every worker."""

    sets: dict[str, pa.Table]   # eval set name -> KEYS of its hashed images
    kind: str
    limits: Limits


def hash_eval_sets(tables: dict[str, pa.Table], kind: str, limits: Limits, engine: Engine) -> EvalHashes:
    """Search keys of every evaluation set's images (mirrored, trimmed, centre crops), hashed on `engine`."""
    sets = {name: hash_files(engine, table.select(["image_id", "path"]), kind, role="eval")[1]
            for name, table in tables.items()}
    return EvalHashes(sets, kind, limits)


def unhashed_counts(hashed: pa.Table) -> HashCounts:
    """{source: {split: {reason: count}}} of the rows of a `key_table` result that have no hash,
    and {source: {split: {"hashed": count}}} of those that do."""
    grouped = hashed.group_by(["source", "split", "hash_failure"]).aggregate([("hash_failure", "count")])
    out: HashCounts = {}
    for row in grouped.to_pylist():
        out.setdefault(row["source"], {}).setdefault(row["split"], {})[FAILURES[row["hash_failure"]]] = \
            row["hash_failure_count"]
    return out


def merge_counts(total: HashCounts, more: HashCounts) -> HashCounts:
    """Add nested {a: {b: {c: n}}} counts into total."""
    for source, splits in more.items():
        for split, reasons in splits.items():
            into = total.setdefault(source, {}).setdefault(split, {})
            for reason, n in reasons.items():
                into[reason] = into.get(reason, 0) + n
    return total


def duplicate_ids(first: np.ndarray, images: list[pa.Table], offsets: np.ndarray, lo: int,
                  hi: int, near: np.ndarray | None = None) -> pa.Array:
    """For global rows lo..hi: why each image is dropped as a duplicate, null for kept images:
    `train_near_duplicate_of:<id>` for rows in a near-duplicate group of training hashes (`near`),
    `duplicate_of:<id>` for the others (same URL or Flickr photo), <id> being the kept image."""
    rows = first[lo:hi]
    dup = np.flatnonzero(rows != np.arange(lo, hi))
    values = np.full(hi - lo, None, dtype=object)
    for i in dup.tolist():  # duplicates are rare: a loop over them, never over all rows
        source = int(np.searchsorted(offsets, rows[i], side="right")) - 1
        prefix = "train_near_duplicate_of:" if near is not None and near[lo + i] else "duplicate_of:"
        values[i] = prefix + images[source].column("image_id")[int(rows[i] - offsets[source])].as_py()
    return pa.array(values, pa.string())


def mark(table: pa.Table, duplicates: pa.Array, evals: EvalHashes | None) -> tuple[pa.Table, pa.Table, HashCounts]:
    """Fill `phash` and `dedup` of one partition (`duplicates`: the reasons of `duplicate_ids`);
    return it with its (image, eval image) pairs and the counts of images hashed and not hashed
    (`unhashed_counts`)."""
    reason = duplicates
    if evals is None:
        return _set(table, "dedup", reason), PAIRS.empty_table(), {}
    hashed, keys, _ = key_table(table.select(["image_id", "source", "split", "path"]), evals.kind)
    counts = unhashed_counts(hashed)
    table = _set(table, "phash", hashed.column(evals.kind))
    train = table.column("image_id").filter(pc.equal(table.column("split"), "train"))
    pairs = dedup_keys(keys.filter(pc.is_in(keys.column("image_id"), value_set=train)), evals.sets, evals.limits)
    if pairs.num_rows == 0:
        return _set(table, "dedup", reason), pairs, counts
    near = pairs.group_by("image_id").aggregate([("eval_image_id", "min")])
    at = pc.index_in(table.column("image_id"), value_set=near.column("image_id"))
    hit = near.column("eval_image_id_min").take(pc.fill_null(at, 0))
    near_reason = pc.binary_join_element_wise("near_duplicate:", hit, "")
    reason = pc.if_else(pc.is_valid(at), near_reason, reason)
    return _set(table, "dedup", reason), pairs, counts


def _set(table: pa.Table, name: str, column: pa.Array) -> pa.Table:
    return table.set_column(table.schema.get_field_index(name), name, column.cast(table.schema.field(name).type))
