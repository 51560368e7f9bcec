"""What the journals say: which images are done (for resume) and the final result per image.

Both reduce the journals to the latest record per image (largest `t`, then journal
order), columnar: the results by exact image_id, the done set by id hash. The done set
is a sorted array of 64-bit id hashes (8 bytes per image instead of a Python string set),
so resume memory stays small at 14M images; a hash collision could make one image look
done, with probability about n^2 / 2^65 (5e-6 at 14M ids).
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from mlbuild._util.parquet import write_table
from mlbuild.images.download.journal import iter_journal, read_journal
from mlbuild.images.download.results import OK, RESULTS, TRANSIENT

_HASH_KEY = "0123456789123456"  # pandas' documented default, pinned so hashes never change


def id_hashes(values: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """64-bit SipHash of each string (pandas.util.hash_array, UTF-8, fixed key), as uint64."""
    import pandas as pd  # here: download workers never hash ids, and pandas takes 0.17 s to import

    objects = values.to_numpy(zero_copy_only=False)
    return pd.util.hash_array(objects, encoding="utf8", hash_key=_HASH_KEY, categorize=False)


def _latest(keys: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Indices of the latest row per key (largest t, ties to the later row), sorted by key."""
    order = np.lexsort((np.arange(len(keys)), t, keys))
    sorted_keys = keys[order]
    last = np.ones(len(order), dtype=bool)
    last[:-1] = sorted_keys[1:] != sorted_keys[:-1]
    return order[last]


def done_hashes(journals: Sequence[Path], retry: str = "none") -> np.ndarray:
    """Sorted hashes of images not to fetch again: all recorded ones, minus failures to retry.

    Journals are streamed: memory holds 17 bytes per record, not the records.
    """
    keys, times, final = [np.empty(0, np.uint64)], [np.empty(0)], [np.empty(0, bool)]
    for path in journals:
        for batch in iter_journal(path, ["image_id", "status", "t"]):
            keys.append(id_hashes(batch.column("image_id")))
            times.append(batch.column("t").to_numpy(zero_copy_only=False))
            final.append(_is_final(batch.column("status"), retry))
    keys_all = np.concatenate(keys)
    latest = _latest(keys_all, np.concatenate(times))
    return keys_all[latest][np.concatenate(final)[latest]]


def _is_final(status: pa.Array, retry: str) -> np.ndarray:
    """Which records end an image's downloading under `retry` (the others are redone)."""
    if retry == "all":
        keep = pc.equal(status, OK)
    elif retry == "transient":
        keep = pc.invert(pc.is_in(status, pa.array(sorted(TRANSIENT))))
    else:
        return np.ones(len(status), dtype=bool)
    return keep.to_numpy(zero_copy_only=False)


def not_done(batch: pa.RecordBatch, done: np.ndarray) -> pa.RecordBatch:
    """The rows of `batch` whose image_id is not in the sorted hash array `done`."""
    if not len(done) or not batch.num_rows:
        return batch
    keys = id_hashes(batch.column("image_id"))
    pos = np.minimum(np.searchsorted(done, keys), len(done) - 1)
    return batch.filter(pa.array(done[pos] != keys))


def collect_results(journals: Sequence[Path]) -> pa.Table:
    """One row per image (its latest record), sorted by image_id, in the RESULTS schema."""
    if not journals:
        return RESULTS.empty_table()
    table = pa.concat_tables(read_journal(p) for p in journals)
    table = table.append_column("order", pa.array(np.arange(table.num_rows)))
    by_id = pc.sort_indices(table, [("image_id", "ascending"), ("t", "ascending"),
                                    ("order", "ascending")])
    ids = table.column("image_id").take(by_id)
    last = np.ones(len(by_id), dtype=bool)  # the last record of each run of equal ids
    last[:-1] = pc.not_equal(ids.slice(1), ids.slice(0, len(ids) - 1)).to_numpy()
    return table.take(by_id.filter(pa.array(last))).select(RESULTS.names).cast(RESULTS)


def write_results(journals: Sequence[Path], path: Path) -> pa.Table:
    """Collect the journals into `path` (Parquet, atomic, sorted by image_id); returns the table."""
    table = collect_results(journals)
    write_table(table, path)
    return table
