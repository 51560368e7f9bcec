"""Training products computed from a build's counts: sample weights, negative keep rates, co-occurrence.

All columnar. Class frequencies are `positives_train / images`, the counts the classes
manifest carries (images = training rows not removed by dedup, as for `pos_weight`).

- `sample_weight` (per image, `[stats] sampling`): the maximum over the image's positives of
  a class weight g(f): "sqrt" f^-1/2 (square-root sampling), "inverse" 1/f, "repeat_factor"
  max(1, sqrt(t/f)) (LVIS); at least 1, so an unlabelled image weighs 1. Because ancestors are
  at least as frequent as their descendants, the maximum is set by the rarest, most specific label.
- `negative_keep_rate` (per class): the fraction of a class's negatives to keep so that
  negatives : positives = `negatives_per_positive`, i.e. min(1, k / pos_weight).
- `cooccurrence.parquet`: pairs of direct labels on the same kept training image. Direct
  labels, not propagated ones: an image has ~1-3 direct labels but ~10-30 with ancestors, so
  pairs stay few (and bounded by the direct label rows, 72M at full scale), and ancestor pairs,
  which co-occur by construction, are excluded anyway. Each partition's worker counts its own
  pairs (`cooccurrence_part`, the diagonal counting images per class); the parts' sorted counts
  are merged in bounded buffers at the end (`cooccurrence`).
"""
from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from mlbuild._util.arrays import csr_owners, range_positions, sorted_members
from mlbuild._util.parquet import read_table, write_table
from mlbuild.classes.closure import Closure
from mlbuild.config import StatsConfig

TRAIN = "train"
MERGE_ENTRIES = 1 << 24  # pair counts buffered before they are merged (16 bytes each: 256 MB)
COOCCURRENCE = pa.schema([
    pa.field("class_a", pa.int32()), pa.field("class_b", pa.int32()),
    pa.field("count", pa.int64()), pa.field("images_a", pa.int64()), pa.field("images_b", pa.int64()),
    pa.field("expected", pa.float64()), pa.field("lift", pa.float64()), pa.field("pmi", pa.float64()),
])


def class_weights(positives: np.ndarray, images: int, scheme: str, threshold: float = 0.001) -> np.ndarray:
    """Per class g(f), f = positives / images (NaN for classes without positives)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        f = np.where(positives > 0, positives / max(images, 1), np.nan)
        if scheme == "none":
            g = np.ones_like(f)
        elif scheme == "sqrt":
            g = 1 / np.sqrt(f)
        elif scheme == "inverse":
            g = 1 / f
        elif scheme == "repeat_factor":
            g = np.maximum(1.0, np.sqrt(threshold / f))
        else:
            raise ValueError(f"unknown sampling scheme {scheme!r}")
    return np.where(positives > 0, g, np.nan)


def image_weights(labels: pa.Array | pa.ChunkedArray, weights: np.ndarray, kept: np.ndarray) -> np.ndarray:
    """max(1, max of `weights` over each image's labels) as float32; 0 where not kept."""
    offsets, values = _flat(labels)
    out = np.ones(len(offsets) - 1)
    starts = offsets[:-1][np.diff(offsets) > 0]
    if len(starts):
        out[np.diff(offsets) > 0] = np.maximum(np.maximum.reduceat(weights[values], starts), 1.0)
    return np.where(kept, out, 0.0).astype(np.float32)


def negative_keep_rate(pos_weight: np.ndarray, negatives_per_positive: float) -> np.ndarray:
    """min(1, k / pos_weight): 1 when a class has fewer negatives than k per positive; NaN without positives."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.minimum(1.0, negatives_per_positive / pos_weight).astype(np.float32)


def add_sample_weights(images: Path, positives: np.ndarray, n_images: int, config: StatsConfig) -> None:
    """Append (or replace) `sample_weight` in every image part under `images/<split>/`; null outside train."""
    weights = class_weights(positives, n_images, config.sampling, config.repeat_threshold)

    def rewrite(path: Path) -> None:
        table = read_table(path)
        if path.parent.name == TRAIN:
            column = pa.array(image_weights(table.column("labels"), weights, _kept(table)))
        else:
            column = pa.nulls(table.num_rows, pa.float32())
        if "sample_weight" in table.column_names:
            table = table.drop_columns(["sample_weight"])
        write_table(table.append_column("sample_weight", column), path)

    with ThreadPoolExecutor(max_workers=2) as pool:
        list(pool.map(rewrite, sorted(images.glob("*/part-*.parquet"))))


COOCCURRENCE_PART = pa.schema([pa.field("key", pa.uint64()), pa.field("count", pa.int64())])


def cooccurrence_part(table: pa.Table, n_classes: int) -> pa.Table:
    """One partition's co-occurrence counts over its kept training images: sorted keys
    min * n + max of direct label pairs and c * n + c (the diagonal: images with c), with their
    counts; the number of those images in the metadata (`images`)."""
    keep = _kept(table) & pc.equal(table.column("split"), TRAIN).combine_chunks().to_numpy(zero_copy_only=False)
    offsets, values = _flat(table.column("direct_labels").filter(pa.array(keep)))
    a, b = label_pairs(offsets, values)
    n = np.uint64(n_classes)
    keys = np.concatenate([np.minimum(a, b).astype(np.uint64) * n + np.maximum(a, b).astype(np.uint64),
                           values.astype(np.uint64) * (n + np.uint64(1))])
    keys, counts = np.unique(keys, return_counts=True)
    return pa.table([keys, counts.astype(np.int64)], schema=COOCCURRENCE_PART.with_metadata(
        {b"images": str(int(keep.sum())).encode()}))


def cooccurrence(parts: list[Path], up: Closure) -> pa.Table:
    """The partitions' counts (`cooccurrence_part`) summed: pairs of direct labels on kept training
    images, ancestor/descendant pairs excluded."""
    n = up.n_classes
    counts, n_images = _Counter(), 0
    for table in _read_parts(parts, None):
        n_images += int(table.schema.metadata[b"images"])
        counts.add(table.column("key").to_numpy(), table.column("count").to_numpy())
    keys, count = counts.total()
    a, b = (keys // np.uint64(n)).astype(np.int32), (keys % np.uint64(n)).astype(np.int32)
    diagonal = a == b
    per_class = np.zeros(n, np.int64)
    per_class[a[diagonal]] = count[diagonal]
    keep = ~diagonal & ~sorted_members(keys, related_keys(up))
    keys, count, a, b = keys[keep], count[keep], a[keep], b[keep]
    expected = per_class[a] * per_class[b] / max(n_images, 1)
    lift = count / expected
    return pa.table([a, b, count, per_class[a], per_class[b], expected, lift, np.log2(lift)], schema=COOCCURRENCE)


def label_pairs(offsets: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every pair (values[i], values[j]), i < j, of positions within the same list."""
    positions = np.arange(len(values), dtype=np.int64)
    ends = np.repeat(offsets[1:], np.diff(offsets))
    partners = ends - 1 - positions
    return values[np.repeat(positions, partners)], values[range_positions(positions + 1, partners)]


def related_keys(up: Closure) -> np.ndarray:
    """Sorted keys min * n + max of every (class, proper ancestor) pair."""
    n = up.n_classes
    owners = csr_owners(up.indptr)
    anc = up.indices.astype(np.int64)
    proper = owners != anc
    lo, hi = np.minimum(owners, anc)[proper], np.maximum(owners, anc)[proper]
    return np.unique(lo.astype(np.uint64) * np.uint64(n) + hi.astype(np.uint64))


class _Counter:
    """Sums counts of uint64 keys in bounded memory: per-part counts are buffered and merged into the
    running total once the buffer outgrows both MERGE_ENTRIES and the total (each key is merged O(log n)
    times)."""

    def __init__(self) -> None:
        self.keys, self.counts = [np.zeros(0, np.uint64)], [np.zeros(0, np.int64)]
        self.merged, self.buffered = 0, 0

    def add(self, keys: np.ndarray, counts: np.ndarray) -> None:
        """Add sorted distinct keys with their counts."""
        self.keys.append(keys)
        self.counts.append(counts.astype(np.int64))
        self.buffered += len(keys)
        if self.buffered > max(MERGE_ENTRIES, self.merged):
            keys, counts = self.total()
            self.keys, self.counts, self.merged, self.buffered = [keys], [counts], len(keys), 0

    def total(self) -> tuple[np.ndarray, np.ndarray]:
        """(distinct keys sorted, their counts) of everything added."""
        keys, counts = np.concatenate(self.keys), np.concatenate(self.counts)
        if len(keys) == 0:
            return keys, counts
        # Every added array is sorted: a stable sort merges such runs ~5x faster (mlbuild._util.arrays).
        if int(keys.max()) < 1 << 30 and int(counts.max()) < 1 << 33:  # sort packed (key, count): values only
            packed = np.sort((keys << np.uint64(34)) | counts.astype(np.uint64), kind="stable")
            keys, counts = packed >> np.uint64(34), (packed & np.uint64((1 << 34) - 1)).astype(np.int64)
        else:
            order = np.argsort(keys, kind="stable")
            keys, counts = keys[order], counts[order]
        starts = np.flatnonzero(np.concatenate([[True], keys[1:] != keys[:-1]]))
        return keys[starts], np.add.reduceat(counts, starts)


def _read_parts(paths: list[Path], columns: list[str] | None) -> Iterator[pa.Table]:
    """The parts' columns, read two ahead in threads."""
    with ThreadPoolExecutor(max_workers=2) as pool:
        yield from pool.map(lambda p: read_table(p, columns), paths)


def _kept(table: pa.Table) -> np.ndarray:
    """Rows not removed by dedup."""
    return pc.is_null(table.column("dedup")).combine_chunks().to_numpy(zero_copy_only=False)


def _flat(lists: pa.Array | pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray]:
    """(offsets from 0, values) of a list column."""
    if isinstance(lists, pa.ChunkedArray):
        lists = lists.combine_chunks() if lists.num_chunks != 1 else lists.chunk(0)
    offsets = lists.offsets.to_numpy().astype(np.int64)
    values = lists.values.to_numpy()[offsets[0]:offsets[-1]] if len(lists) else np.zeros(0, np.int32)
    return offsets - offsets[0], values


def with_keep_rate(classes: pa.Table, config: StatsConfig) -> pa.Table:
    """classes + `negative_keep_rate` (from `pos_weight`)."""
    rate = negative_keep_rate(classes.column("pos_weight").to_numpy(zero_copy_only=False),
                              config.negatives_per_positive)
    return classes.append_column("negative_keep_rate", pa.array(rate, from_pandas=True))


def write_products(stage: Path, classes: pa.Table, n_train: int, up: Closure, config: StatsConfig) -> None:
    """cooccurrence.parquet, and `sample_weight` in the image parts unless sampling is "none"."""
    if "positives_train" in classes.column_names:
        positives = classes.column("positives_train").to_numpy()
    else:
        positives = np.zeros(classes.num_rows, np.int64)
    if config.sampling != "none":
        add_sample_weights(stage / "images", positives, n_train, config)
    write_table(cooccurrence(sorted((stage / "cooc").glob("part-*.parquet")), up), stage / "cooccurrence.parquet")
