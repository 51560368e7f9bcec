"""The build's label rows: every source's labels as class indices on global image rows.

Rows are sorted by image, so a partition of images is a contiguous range of rows. Images
that duplicate an earlier image (the same photo in two sources) give their labels to it;
those rows are few, so they are kept aside (`Moved`) and joined to the partition of the
image they move to, instead of re-sorting tens of millions of rows.
"""
from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from mlbuild._util.arrays import range_positions, stable_argsort
from mlbuild.classes.closure import Closure
from mlbuild.labels.ingest import NEGATIVE, SourceData

MAX_SOURCES = 64  # a label's sources are a uint64 bitmask


@dataclass
class LabelRows:
    """Label rows by global image index, sorted by image (except where `part` merges moved rows)."""

    image: np.ndarray       # int32 global image row
    cls: np.ndarray         # int32 class index
    conf: np.ndarray        # float32
    negative: np.ndarray    # bool
    machine: np.ndarray     # bool: a machine label (else human / curated)
    src: np.ndarray         # uint8: the source (position in the build's sources) that gave it
    label_set: np.ndarray   # uint8: 0 = main labels, i = the build's i-th extra label set

    def _map(self, how) -> LabelRows:
        return LabelRows(*(how(getattr(self, f.name)) for f in fields(self)))

    def select(self, mask: np.ndarray) -> LabelRows:
        return self._map(lambda a: a[mask])

    def slice(self, lo: int, hi: int) -> LabelRows:
        return self._map(lambda a: a[lo:hi])

    def with_image(self, image: np.ndarray) -> LabelRows:
        """The same rows on other image indices."""
        out = self._map(lambda a: a)
        out.image = image
        return out

    def bounds(self, n_images: int, size: int) -> list[tuple[int, int]]:
        """Row ranges of each partition of `size` images."""
        starts = np.searchsorted(self.image, np.arange(0, n_images + size, size))
        return list(zip(starts[:-1].tolist(), starts[1:].tolist()))

    def remapped(self, target: Closure) -> tuple[LabelRows, np.ndarray]:
        """Rows with each class replaced by its targets (one row per target), and the mask of the rows
        that have none.

        `target` has 2n codes (`mlbuild.classes.normalize.label_targets`): positives of class c
        go to the targets of c, negatives to those of n + c.
        """
        codes = self.cls + np.int32(target.n_classes // 2) * self.negative
        index, classes = target.expand(codes)
        out = self.select(index)
        out.cls = classes
        return out, target.indptr[codes + 1] == target.indptr[codes]

    def put(self, at: int, rows: LabelRows) -> int:
        """Copy `rows` into these arrays from row `at`; returns the row after them."""
        end = at + len(rows.image)
        for f in fields(self):
            getattr(self, f.name)[at:end] = getattr(rows, f.name)
        return end

    @staticmethod
    def of(image: np.ndarray, cls: np.ndarray, conf: np.ndarray | None = None, negative: np.ndarray | None = None,
           machine: np.ndarray | None = None, src: np.ndarray | None = None) -> LabelRows:
        """Rows from the given columns; the others default to human positives of source 0 at confidence 1."""
        n = len(image)

        def given(values: np.ndarray | None, dtype: type, default: object = 0) -> np.ndarray:
            return np.full(n, default, dtype) if values is None else np.asarray(values, dtype)

        return LabelRows(given(image, np.int32), given(cls, np.int32), given(conf, np.float32, 1.0),
                         given(negative, bool), given(machine, bool), given(src, np.uint8), np.zeros(n, np.uint8))

    @staticmethod
    def empty(n: int) -> LabelRows:
        """Uninitialized rows, to be filled by `put`."""
        return LabelRows(np.empty(n, np.int32), np.empty(n, np.int32), np.empty(n, np.float32), np.empty(n, bool),
                         np.empty(n, bool), np.empty(n, np.uint8), np.empty(n, np.uint8))

    @staticmethod
    def concat(parts: list[LabelRows]) -> LabelRows:
        return LabelRows(*(np.concatenate([getattr(p, f.name) for p in parts]) for f in fields(LabelRows)))


CHUNK_ROWS = 1 << 22  # label rows expanded at a time: bounded temporaries


def label_rows(sources: list[SourceData], targets: list[Closure], label_sets: list[str]) -> LabelRows:
    """Every source's label rows expanded to class indices, with global image indices, sorted by image.

    `targets` are each source's `label_targets` (2 codes per source class: positive, negative);
    `label_sets` the build's extra label sets (a row's `label_set` is 1 + its position there).
    Rows whose class goes nowhere (unmapped, or out of the vocabulary with no kept ancestor for a
    positive / no kept descendant for a negative) are counted in each source's `counts`.

    Two passes over bounded chunks: count, then fill arrays allocated once, so the build
    never holds the expanded rows twice; each source's label arrays are released once taken.
    """
    if sum(s.images.num_rows for s in sources) >= 2**31:
        raise ValueError("a build of 2**31 images or more: split it into several builds")
    if len(sources) > MAX_SOURCES:
        raise ValueError(f"a build of more than {MAX_SOURCES} sources: split it into several builds")
    for src in sources:
        src.counts.update(dict.fromkeys(WITHOUT_CLASS, 0))
    total = sum(_expanded_count(src, target, lo) for src, target in zip(sources, targets)
                for lo in range(0, len(src.class_code), CHUNK_ROWS))
    out = LabelRows.empty(total)
    at, offset = 0, 0
    for number, (src, target) in enumerate(zip(sources, targets)):
        sets = np.array([0] + [1 + label_sets.index(name) for name in src.label_sets], np.uint8)
        for lo in range(0, len(src.class_code), CHUNK_ROWS):
            at = out.put(at, _expanded(src, target, lo, offset, number, sets))
        offset += src.images.num_rows
        src.release_labels()
    if len(out.image) > 1 and not (out.image[1:] >= out.image[:-1]).all():
        out = out.select(_stable_order(out.image))
    return out


def _labelled(src: SourceData, lo: int) -> np.ndarray:
    """Rows lo..lo+CHUNK_ROWS of the source's labels that are positive or negative (not ignored)."""
    return lo + np.flatnonzero(src.polarity[lo:lo + CHUNK_ROWS] != 0)


def _codes(src: SourceData, keep: np.ndarray) -> np.ndarray:
    """Target codes of the kept rows: class code, plus the class count for negatives."""
    return src.class_code[keep] + np.int32(len(src.class_ids)) * (src.polarity[keep] == NEGATIVE)


WITHOUT_CLASS = ("positives_without_class", "negatives_without_class")


def _expanded_count(src: SourceData, target: Closure, lo: int) -> int:
    """Output rows of a chunk; its rows that go to no class are added to the source's counts."""
    keep = _labelled(src, lo)
    per_row = np.diff(target.indptr)[_codes(src, keep)]
    count_without_class(src.counts, per_row == 0, src.polarity[keep] == NEGATIVE)
    return int(per_row.sum())


def count_without_class(counts: dict[str, int], lost: np.ndarray, negative: np.ndarray) -> None:
    """Add the lost positive and negative rows to `counts` (keys WITHOUT_CLASS)."""
    n_negative = int((lost & negative).sum())
    counts[WITHOUT_CLASS[0]] += int(lost.sum()) - n_negative
    counts[WITHOUT_CLASS[1]] += n_negative


def _expanded(src: SourceData, target: Closure, lo: int, offset: int, number: int, sets: np.ndarray) -> LabelRows:
    """A chunk of the source's label rows, one row per target class, on global image rows."""
    keep = _labelled(src, lo)
    rows, classes = target.expand(_codes(src, keep))
    rows = keep[rows]
    return LabelRows(src.image_row[rows] + np.int32(offset), classes, src.confidence[rows],
                     src.polarity[rows] == NEGATIVE, src.machine[rows], np.full(len(rows), number, np.uint8),
                     sets[src.label_set[rows]])


@dataclass
class Moved:
    """Duplicate images' label rows, re-pointed to the image each duplicates.

    `first[i]` is the row of the image that image i duplicates (i itself if none);
    it is never after i, so rows only ever move to the same or an earlier partition.
    """

    first: np.ndarray
    rows: LabelRows          # image = the kept image; sorted by it
    source: np.ndarray       # the duplicate image each row came from

    @classmethod
    def of(cls, rows: LabelRows, first: np.ndarray) -> Moved:
        """The rows of every duplicate image (found by binary search: rows are sorted by image)."""
        dup = np.flatnonzero(first != np.arange(len(first)))
        lo, hi = np.searchsorted(rows.image, dup), np.searchsorted(rows.image, dup, side="right")
        taken = rows.select(range_positions(lo, hi - lo))
        taken, source = taken.with_image(first[taken.image]), taken.image
        order = stable_argsort(taken.image)
        return cls(first, taken.select(order), source[order])

    def part(self, rows: LabelRows, lo: int, hi: int) -> LabelRows:
        """A partition's label rows (images lo..hi) after the move: its own rows minus those that
        leave for an earlier partition, plus those arriving from later partitions."""
        target = self.first[rows.image]
        own = rows.with_image(target).select(target >= lo)
        a, b = np.searchsorted(self.rows.image, [lo, hi])
        arriving = self.rows.slice(a, b).select(self.source[a:b] >= hi)
        return LabelRows.concat([own, arriving]) if len(arriving.image) else own


def _stable_order(image: np.ndarray) -> np.ndarray:
    """stable_argsort(image), cheaply when few rows are below the running maximum (merged duplicate ids)."""
    bad = np.flatnonzero(image < np.maximum.accumulate(image))
    if len(bad) * 8 > len(image):
        return stable_argsort(image)
    keep = np.ones(len(image), bool)
    keep[bad] = False
    kept = np.flatnonzero(keep)
    bad = bad[np.argsort(image[bad], kind="stable")]
    return np.insert(kept, np.searchsorted(image[kept], image[bad], side="right"), bad)
