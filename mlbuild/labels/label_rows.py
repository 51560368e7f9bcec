"""The build's label rows: every source's labels as class indices on global image rows.

Rows are sorted by image, so a partition of images is a contiguous range of rows. Images
that duplicate an earlier image (the same photo in two sources) give their labels to it;
those rows are few, so they are kept aside (`Moved`) and joined to the partition of the
image they move to, instead of re-sorting tens of millions of rows.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mlbuild._util.arrays import range_positions, stable_argsort
from mlbuild.labels.ingest import NEGATIVE, SourceData
from mlbuild.labels.propagate import Closure


@dataclass
class LabelRows:
    """Label rows by global image index, sorted by image (except where `part` merges moved rows)."""

    image: np.ndarray       # int32 global image row
    cls: np.ndarray         # int32 class index
    conf: np.ndarray        # float32
    negative: np.ndarray    # bool

    def select(self, mask: np.ndarray) -> LabelRows:
        return LabelRows(self.image[mask], self.cls[mask], self.conf[mask], self.negative[mask])

    def slice(self, lo: int, hi: int) -> LabelRows:
        return LabelRows(self.image[lo:hi], self.cls[lo:hi], self.conf[lo:hi], self.negative[lo:hi])

    def bounds(self, n_images: int, size: int) -> list[tuple[int, int]]:
        """Row ranges of each partition of `size` images."""
        starts = np.searchsorted(self.image, np.arange(0, n_images + size, size))
        return list(zip(starts[:-1].tolist(), starts[1:].tolist()))

    def remapped(self, target: Closure) -> LabelRows:
        """Rows with each class replaced by its targets (one row per target; none if it has none)."""
        index, classes = target.expand(self.cls)
        return LabelRows(self.image[index], classes, self.conf[index], self.negative[index])

    def put(self, at: int, rows: LabelRows) -> int:
        """Copy `rows` into these arrays from row `at`; returns the row after them."""
        end = at + len(rows.image)
        self.image[at:end], self.cls[at:end], self.conf[at:end], self.negative[at:end] = \
            rows.image, rows.cls, rows.conf, rows.negative
        return end

    @staticmethod
    def concat(parts: list[LabelRows]) -> LabelRows:
        return LabelRows(*(np.concatenate([getattr(p, f) for p in parts]) for f in ("image", "cls", "conf",
                                                                                   "negative")))


CHUNK_ROWS = 1 << 22  # label rows expanded at a time: bounded temporaries


def label_rows(sources: list[SourceData], targets: list[Closure]) -> LabelRows:
    """Every source's label rows expanded to class indices, with global image indices, sorted by image.

    Two passes over bounded chunks: count, then fill arrays allocated once, so the build
    never holds the expanded rows twice; each source's label arrays are released once taken.
    """
    if sum(s.images.num_rows for s in sources) >= 2**31:
        raise ValueError("a build of 2**31 images or more: split it into several builds")
    total = sum(_expanded_count(src, target, lo) for src, target in zip(sources, targets)
                for lo in range(0, len(src.class_code), CHUNK_ROWS))
    out = LabelRows(np.empty(total, np.int32), np.empty(total, np.int32), np.empty(total, np.float32),
                    np.empty(total, bool))
    at, offset = 0, 0
    for src, target in zip(sources, targets):
        for lo in range(0, len(src.class_code), CHUNK_ROWS):
            at = out.put(at, _expanded(src, target, lo, offset))
        offset += src.images.num_rows
        src.release_labels()
    if len(out.image) > 1 and not (out.image[1:] >= out.image[:-1]).all():
        out = out.select(stable_argsort(out.image))
    return out


def _labelled(src: SourceData, lo: int) -> np.ndarray:
    """Rows lo..lo+CHUNK_ROWS of the source's labels that are positive or negative (not ignored)."""
    return lo + np.flatnonzero(src.polarity[lo:lo + CHUNK_ROWS] != 0)


def _expanded_count(src: SourceData, target: Closure, lo: int) -> int:
    return int(np.diff(target.indptr)[src.class_code[_labelled(src, lo)]].sum())


def _expanded(src: SourceData, target: Closure, lo: int, offset: int) -> LabelRows:
    """A chunk of the source's label rows, one row per target class, on global image rows."""
    keep = _labelled(src, lo)
    rows, classes = target.expand(src.class_code[keep])
    rows = keep[rows]
    return LabelRows(src.image_row[rows] + np.int32(offset), classes, src.confidence[rows],
                     src.polarity[rows] == NEGATIVE)


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
        taken, source = LabelRows(first[taken.image], taken.cls, taken.conf, taken.negative), taken.image
        order = stable_argsort(taken.image)
        return cls(first, taken.select(order), source[order])

    def part(self, rows: LabelRows, lo: int, hi: int) -> LabelRows:
        """A partition's label rows (images lo..hi) after the move: its own rows minus those that
        leave for an earlier partition, plus those arriving from later partitions."""
        target = self.first[rows.image]
        own = LabelRows(target, rows.cls, rows.conf, rows.negative).select(target >= lo)
        a, b = np.searchsorted(self.rows.image, [lo, hi])
        arriving = self.rows.slice(a, b).select(self.source[a:b] >= hi)
        return LabelRows.concat([own, arriving]) if len(arriving.image) else own
