"""Near-duplicate groups within one set of hashes (the training images), exact, in bounded memory.

Two images are linked when their hashes are within Hamming distance K; groups are the
connected components of those links (A near B, B near C: one group, even if A and C are
farther apart), which is what "collapse near-identical copies" needs. Equal hashes are folded
first (`np.unique`: 20,000 copies of a placeholder image are one hash, not 2e8 pairs), then
the distinct hashes are joined with themselves by the exact search (`hamming_pairs`), one
slice of query hashes at a time so that only the slice's links are held, never all pairs.
"""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from mlbuild.engines.local import Engine
from mlbuild.images.duplicate_keys import components
from mlbuild.images.neardup import check_distance, hamming_pairs, popcount
from mlbuild.images.sharded import hash_files

QUERY_ROWS = 1 << 22  # distinct hashes probed per self-join step


def near_duplicate_roots(hashes: np.ndarray, max_distance: int, checks: np.ndarray | None = None,
                         max_check: int = 64, query_rows: int = QUERY_ROWS) -> np.ndarray:
    """Per row, the smallest row of its near-duplicate group (its own row when it has no near
    duplicate): rows are linked when their hashes are within `max_distance` and their check
    signatures (`mlbuild.images.hash_keys`, when given) within `max_check`."""
    k = check_distance(max_distance)
    keys = np.stack([np.asarray(hashes, np.uint64),
                     np.zeros(len(hashes), np.uint64) if checks is None else np.asarray(checks, np.uint64)], axis=1)
    distinct, inverse = np.unique(keys, axis=0, return_inverse=True)
    inverse = inverse.ravel()
    links = [np.empty((0, 2), np.int64)]
    for lo in range(0, len(distinct), query_rows):
        i, j, _ = hamming_pairs(distinct[:, 0], distinct[lo:lo + query_rows, 0], k)
        j = j + lo
        keep = (i < j) & (popcount(distinct[i, 1] ^ distinct[j, 1]) <= max_check)
        links.append(np.stack([i[keep], j[keep]], axis=1))
    edges = np.concatenate(links)
    # each link is a two-row group for `components`: rows (i, j) starting at every even position
    group_root = components(len(distinct), [(edges.ravel(), np.arange(0, 2 * len(edges), 2))])
    first_row = np.full(len(distinct), len(hashes), np.int64)
    np.minimum.at(first_row, inverse, np.arange(len(hashes)))  # first row holding each distinct hash
    least = np.full(len(distinct), len(hashes), np.int64)
    np.minimum.at(least, group_root, first_row)  # first row of each group
    return least[group_root[inverse]]


def train_near_groups(engine: Engine, images: list[pa.Table], offsets: np.ndarray, kind: str, max_distance: int,
                      max_check: int, training: list[bool]) -> pa.Array:
    """Per image (tables concatenated): the global row of the first image of its near-duplicate
    group, for training images (split "train" of training sources) in a group of two or more;
    null for the others. Hashes the training images' local files on `engine` (plain keys with
    their check signatures)."""
    rows = []
    for table, offset, train in zip(images, offsets, training):
        if train:
            ok = pc.and_(pc.is_valid(table["path"]), pc.equal(table["split"], "train"))
            rows.append(np.flatnonzero(ok.to_numpy(zero_copy_only=False)) + offset)
    rows = np.concatenate(rows) if rows else np.zeros(0, np.int64)
    paths = pa.chunked_array([t["path"] for t in images], pa.string()).take(pa.array(rows))
    listing = pa.table({"image_id": pa.array(rows.astype(str)), "path": paths})
    _, keys, _ = hash_files(engine, listing, kind, role="plain")
    rows = pc.cast(keys["image_id"], pa.int64()).to_numpy()  # one plain key per hashed image, by row
    roots = rows[near_duplicate_roots(keys["hash"].to_numpy(), max_distance, keys["check"].to_numpy(), max_check)]
    grouped = np.bincount(np.searchsorted(rows, roots), minlength=len(rows))[np.searchsorted(rows, roots)] > 1
    out = np.zeros(int(offsets[-1]), np.int64)
    out[rows[grouped]] = roots[grouped]
    mask = np.ones(len(out), bool)
    mask[rows[grouped]] = False
    return pa.array(out, pa.int64(), mask=mask)
