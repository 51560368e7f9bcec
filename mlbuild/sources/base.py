"""The adapter contract every source implements, and builders for its Arrow output.

An adapter reads one source's files and yields the common schemas of
`mlbuild.schemas` (CLASSES, SOURCE_EDGES, IMAGES, LABELS), so later stages never
know which source a row came from. Readers stream record batches of bounded
size; rows they cannot use are counted per file in `skips`, rows they keep but
had to re-encode are counted in `repairs`.
"""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from mlbuild import schemas
from mlbuild.errors import SkipReport


class RepairReport(SkipReport):
    """Counts rows a reader kept after re-encoding a field (e.g. a non-UTF-8 URL)."""

    def summary(self) -> str:
        """One line for logs and build.json."""
        if not self.count:
            return f"{self.path}: no rows repaired"
        shown = ", ".join(f"line {n}: {why}" for n, why in self.examples[:5])
        return f"{self.path}: {self.count} rows repaired ({shown}{', ...' if self.count > 5 else ''})"


class SourceAdapter:
    """Base class of the source adapters: common schemas out, counted skips per file.

    `label_kind` tells the mapping stage what `source_class` holds: "wnid",
    "mid" (Open Images), "synset" (NLTK name), "name" or "tag".
    """

    name: str
    label_kind: str = "wnid"
    #: label_source values that form label sets of their own (evaluation sets with several ground
    #: truths, e.g. ImageNet ReaL): the build writes each as `<set>_labels`, apart from `labels`.
    label_sets: tuple[str, ...] = ()

    #: The dataclass whose fields are the keys of this adapter's [[source]] table.
    config_class: type[Any]

    def __init__(self, name: str) -> None:
        self.name = name
        self._skips: dict[str, SkipReport] = {}
        self._repairs: dict[str, RepairReport] = {}

    @property
    def skips(self) -> list[SkipReport]:
        """One report per file read (the latest pass over it)."""
        return list(self._skips.values())

    @property
    def repairs(self) -> list[RepairReport]:
        """One report per file in which rows were kept with a re-encoded field."""
        return [r for r in self._repairs.values() if r.count]

    def new_skip_report(self, path: object) -> SkipReport:
        """A fresh report for a new pass over `path` (replaces an earlier pass's)."""
        self._skips[str(path)] = report = SkipReport(str(path))
        self._repairs[str(path)] = RepairReport(str(path))
        return report

    def repair_report(self, path: object) -> RepairReport:
        """The repair report of the current pass over `path` (call after `new_skip_report`)."""
        return self._repairs[str(path)]

    def classes(self) -> pa.Table:
        """The source's own classes (schemas.CLASSES)."""
        raise NotImplementedError

    def class_names(self) -> dict[str, str]:
        """Display names of source classes given by the source's own files (empty if none).

        The build maps a class whose id it cannot map directly (a MID absent from the shipped
        table, a WNID not in WordNet 3.0) by this name.
        """
        return {}

    def hierarchy(self) -> pa.Table:
        """The source's own parent edges (schemas.SOURCE_EDGES); empty by default."""
        return schemas.empty(schemas.SOURCE_EDGES)

    def images(self) -> Iterator[pa.RecordBatch]:
        """Record batches of schemas.IMAGES."""
        raise NotImplementedError

    def labels(self) -> Iterator[pa.RecordBatch]:
        """Record batches of schemas.LABELS."""
        raise NotImplementedError

    #: True when the source has exactly one label per image, read from the same rows.
    one_label_per_image: bool = False
    #: True when `image_label_batches` reads images with their labels (any number each) in one pass.
    labels_with_images: bool = False

    def labeled_images(self) -> Iterator[tuple[pa.RecordBatch, pa.RecordBatch]]:
        """(IMAGES, LABELS) batch pairs in one pass, label row i being image row i's label.

        Only for sources with `one_label_per_image`: the build then reads the files once
        and needs no join; other sources are read by `images()` then `labels()`.
        """
        raise NotImplementedError

    def image_label_batches(self) -> Iterator[tuple[pa.RecordBatch, pa.RecordBatch, np.ndarray]]:
        """(IMAGES, LABELS, row in the IMAGES batch of each label) in one pass, no join needed.

        For sources with `one_label_per_image` (from `labeled_images`) or `labels_with_images`.
        """
        for images, labels in self.labeled_images():
            yield images, labels, np.arange(images.num_rows)


def prefixed(prefix: str, ids: pa.Array) -> pa.Array:
    """`prefix:id` for every id (the stable, source-prefixed image id)."""
    return pc.binary_join_element_wise(f"{prefix}:", ids.cast(pa.string()), "")


def images_batch(source: str, ids: pa.Array, split: str | pa.Array, **columns: pa.Array) -> pa.RecordBatch:
    """An IMAGES batch from source image ids plus any of its other columns (rest null)."""
    n = len(ids)
    given = {"image_id": prefixed(source, ids), "source": pa.repeat(source, n),
             "source_image_id": ids.cast(pa.string()),
             "split": pa.repeat(split, n) if isinstance(split, str) else split, **columns}
    return _batch(schemas.IMAGES, n, given)


def labels_batch(source: str, ids: pa.Array, classes: pa.Array, confidence: float | pa.Array,
                 label_source: str | pa.Array) -> pa.RecordBatch:
    """A LABELS batch: one row per (source image id, source class)."""
    n = len(ids)
    conf = pa.repeat(pa.scalar(confidence, pa.float32()), n) if isinstance(confidence, float) else confidence
    kind = pa.repeat(label_source, n) if isinstance(label_source, str) else label_source
    return _batch(schemas.LABELS, n, {"image_id": prefixed(source, ids), "source_class": classes,
                                      "confidence": conf, "label_source": kind})


def classes_table(source: str, classes: pa.Array, names: pa.Array | None = None,
                  wnids: pa.Array | None = None) -> pa.Table:
    """A CLASSES table for the source's class ids, with optional names and WNIDs."""
    n = len(classes)
    given = {"source": pa.repeat(source, n), "source_class": classes, "name": names, "wnid": wnids}
    return pa.Table.from_batches([_batch(schemas.CLASSES, n, given)], schemas.CLASSES)


def edges_table(source: str, child: pa.Array, parent: pa.Array, relation: pa.Array) -> pa.Table:
    """A SOURCE_EDGES table."""
    n = len(child)
    given = {"source": pa.repeat(source, n), "child": child, "parent": parent, "relation": relation}
    return pa.Table.from_batches([_batch(schemas.SOURCE_EDGES, n, given)], schemas.SOURCE_EDGES)


def _batch(schema: pa.Schema, n: int, given: dict[str, pa.Array | None]) -> pa.RecordBatch:
    unknown = set(given) - set(schema.names)
    if unknown:
        raise ValueError(f"columns not in the schema: {sorted(unknown)}")
    arrays = []
    for f in schema:
        col = given.get(f.name)
        arrays.append(pa.nulls(n, f.type) if col is None else _as_array(col).cast(f.type))
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


def _as_array(col: pa.Array | pa.ChunkedArray) -> pa.Array:
    return col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col


def line_numbers(first_line: int, mask: pa.Array | np.ndarray) -> list[int]:
    """1-based line numbers of the True rows of a batch whose first row is `first_line`."""
    flags = mask.to_numpy(zero_copy_only=False) if isinstance(mask, (pa.Array, pa.ChunkedArray)) else mask
    return (first_line + np.flatnonzero(flags)).tolist()


def failing_rows(checks: list[tuple[pa.Array, str]]) -> tuple[list[tuple[pa.Array, str]], pa.Array | None]:
    """Which rows fail which check first (mask True = bad, null = bad), and the keep mask.

    All masks describe the same unfiltered batch. The keep mask is None when every
    row passed, so the caller can skip filtering. Pure: record the failures with
    `record_skips` where the line numbers are known.
    """
    bad, failures = None, []
    for mask, reason in checks:
        mask = pc.fill_null(mask, True)
        new = mask if bad is None else pc.and_not(mask, bad)
        if pc.any(new).as_py():
            failures.append((new, reason))
            bad = new if bad is None else pc.or_(bad, new)
    return failures, (None if bad is None else pc.invert(bad))


def record_skips(report: SkipReport, first_line: int, failures: list[tuple[pa.Array, str]]) -> None:
    """Add the failing rows of a batch starting at `first_line` to the report."""
    for mask, reason in failures:
        report.extend(line_numbers(first_line, mask), reason)
