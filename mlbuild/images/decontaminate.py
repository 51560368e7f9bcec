"""Build stage: hash the images a build can see, and mark training images that duplicate others.

Two kinds of duplicates are marked in the `dedup` column (rows stay in the manifest, so
every decision is auditable; consumers train on rows where `dedup` is null):
- `duplicate_of:<image_id>`: the same Flickr photo (or the same URL) as another training
  image from any source; the kept image carries the union of both images' labels;
- `near_duplicate:<eval_image_id>`: within Hamming distance K of an evaluation image
  (perceptual hash), reported with its distance in `dedup_pairs.parquet`.
Hashes come from local files (`path`); images known only by URL are hashed once downloaded.
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from mlbuild.images.duplicate_keys import components, flickr_photo_ids, key_groups
from mlbuild.images.neardup import PAIRS, dedup_pairs
from mlbuild.images.phash import hash_table

CHUNK_ROWS = 1 << 21


@dataclass(frozen=True)
class EvalHashes:
    """The evaluation images' hashes, shipped once to every worker."""

    sets: dict[str, pa.Table]   # eval set name -> (image_id, <kind>) of its hashed images
    kind: str
    max_distance: int


def hash_eval_sets(tables: dict[str, pa.Table], kind: str, max_distance: int) -> EvalHashes:
    """Hash every evaluation set's local images."""
    sets = {}
    for name, table in tables.items():
        hashed, _ = hash_table(table.select(["image_id", "path"]), kind)
        sets[name] = hashed.filter(pc.is_valid(hashed.column(kind))).select(["image_id", kind])
    return EvalHashes(sets, kind, max_distance)


def first_of_duplicates(images: list[pa.Table], training: list[bool]) -> np.ndarray:
    """Per image (sources concatenated): the row of the image it duplicates, or its own row.

    Training images sharing a URL or a Flickr photo id form a group; the first of the group
    in build order (sources in config order) is kept and receives the others' labels. Flickr
    URLs are grouped by photo id (the same photo at any size); others by the URL itself.
    """
    chunks = [(table.column("url").slice(start, CHUNK_ROWS), train, offset + start)  # bounded temporaries
              for table, train, offset in zip(images, training, np.cumsum([0] + [t.num_rows for t in images]))
              for start in range(0, table.num_rows, CHUNK_ROWS)]
    with ThreadPoolExecutor(2) as pool:  # regex kernels run without the GIL
        found = list(pool.map(_chunk_keys, chunks))
    photos = [ids for ids, _, _ in found]
    others = [urls for _, urls, _ in found if urls is not None]
    other_rows = [rows for _, _, rows in found if rows is not None]
    offset = sum(t.num_rows for t in images)
    photo_groups = key_groups(pa.concat_arrays(photos))
    rows, starts = key_groups(pa.concat_arrays(others)) if others else (np.zeros(0, np.int64), np.zeros(0, np.int64))
    url_groups = (np.concatenate(other_rows)[rows] if others else rows, starts)
    return components(offset, [photo_groups, url_groups])


def _chunk_keys(chunk: tuple) -> tuple[pa.Array, pa.Array | None, np.ndarray | None]:
    """Photo ids of a chunk of URLs, and its non-Flickr URLs with their global rows."""
    urls, train, offset = chunk
    urls = urls.combine_chunks()
    if not train:
        return pa.nulls(len(urls), pa.int64()), None, None
    ids = flickr_photo_ids(urls)
    plain = np.flatnonzero(pc.is_null(ids).to_numpy(zero_copy_only=False))
    return ids, urls.take(pa.array(plain)), plain + offset


def duplicate_ids(first: np.ndarray, images: list[pa.Table], offsets: np.ndarray, lo: int,
                  hi: int) -> pa.Array:
    """For global rows lo..hi: the image id each duplicates, null for kept images."""
    rows = first[lo:hi]
    dup = np.flatnonzero(rows != np.arange(lo, hi))
    values = np.full(hi - lo, None, dtype=object)
    for i in dup.tolist():  # duplicates are rare: a loop over them, never over all rows
        source = int(np.searchsorted(offsets, rows[i], side="right")) - 1
        values[i] = images[source].column("image_id")[int(rows[i] - offsets[source])].as_py()
    return pa.array(values, pa.string())


def mark(table: pa.Table, duplicates: pa.Array, evals: EvalHashes | None) -> tuple[pa.Table, pa.Table]:
    """Fill `phash` and `dedup` of one partition; return it with its (image, eval image) pairs."""
    reason = pc.if_else(pc.is_valid(duplicates), pc.binary_join_element_wise("duplicate_of:", duplicates, ""),
                        pa.nulls(len(duplicates), pa.string()))
    if evals is None or not pc.any(pc.is_valid(table.column("path"))).as_py():
        return _set(table, "dedup", reason), PAIRS.empty_table()
    hashed, _ = hash_table(table.select(["image_id", "path"]), evals.kind)
    table = _set(table, "phash", hashed.column(evals.kind))
    train = table.filter(pc.equal(table.column("split"), "train")).select(["image_id", "phash"])
    pairs = dedup_pairs(train, {k: v.rename_columns(["image_id", "phash"]) for k, v in evals.sets.items()},
                        evals.max_distance, column="phash")
    if pairs.num_rows == 0:
        return _set(table, "dedup", reason), pairs
    near = pairs.group_by("image_id").aggregate([("eval_image_id", "min")])
    at = pc.index_in(table.column("image_id"), value_set=near.column("image_id"))
    hit = near.column("eval_image_id_min").take(pc.fill_null(at, 0))
    near_reason = pc.binary_join_element_wise("near_duplicate:", hit, "")
    reason = pc.if_else(pc.is_valid(at), near_reason, reason)
    return _set(table, "dedup", reason), pairs


def _set(table: pa.Table, name: str, column: pa.Array) -> pa.Table:
    return table.set_column(table.schema.get_field_index(name), name, column.cast(table.schema.field(name).type))
