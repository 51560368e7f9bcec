"""Read one source into columnar form: its image table and its label rows as numpy arrays.

Label rows become (image row, class code, confidence, polarity, machine, label set): image
rows by the joins in `mlbuild.labels.joins`, class codes by dictionary-encoding each batch (so
Python only ever touches the few distinct class ids, never the rows), polarity by the label
rules of `LabelsConfig`, the label set by the adapter's `label_sets` (0 = the main labels).
Memory holds the image table plus 15 bytes per label.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from mlbuild import schemas
from mlbuild._util.progress import Progress
from mlbuild._util.threads import ordered_map
from mlbuild.config import LabelsConfig, SourceSpec
from mlbuild.errors import InputError
from mlbuild.labels.joins import ImageIndex, duplicate_rows
from mlbuild.sources.base import SourceAdapter
from mlbuild.sources.registry import input_files

POSITIVE, NEGATIVE, IGNORED = 1, -1, 0


@dataclass
class SourceData:
    """One source, read: images, distinct class ids, and label arrays aligned row by row."""

    spec: SourceSpec
    name: str
    label_kind: str
    images: pa.Table
    class_ids: list[str]
    image_row: np.ndarray      # int32 row in `images` (a build holds fewer than 2**31 images)
    class_code: np.ndarray     # int32 index into class_ids
    confidence: np.ndarray     # float32
    polarity: np.ndarray       # int8: POSITIVE, NEGATIVE or IGNORED
    machine: np.ndarray        # bool: label_source "machine" (else a human / curated label)
    label_set: np.ndarray      # uint8: 0 = main labels, i = label_sets[i - 1]
    label_sets: tuple[str, ...] = ()
    annotated: dict[str, np.ndarray] = field(default_factory=dict)  # label set -> images it annotates
    counts: dict[str, int] = field(default_factory=dict)
    skips: list[str] = field(default_factory=list)
    class_names: dict[str, str] = field(default_factory=dict)        # source class -> display name
    edges: list[tuple[str, str, str]] = field(default_factory=list)  # the source's (child, parent, relation)

    def release_labels(self) -> None:
        """Free the label arrays once the build has taken what it needs from them."""
        for name in LABEL_ARRAYS:
            setattr(self, name, np.zeros(0, getattr(self, name).dtype))


def read_source(spec: SourceSpec, adapter: SourceAdapter, rules: LabelsConfig) -> SourceData:
    """Stream the adapter's images and labels into a SourceData.

    Images that repeat an earlier image id of the source are merged into it (its columns
    kept, labels combined), counted as `duplicate_image_ids` and warned about.
    """
    try:
        return _read_source(spec, adapter, rules)
    except OSError as err:  # a file that vanished or cannot be read after the config was checked
        raise InputError(err.filename or adapter.name, f"cannot read: {err.strerror or err}") from None


def _read_source(spec: SourceSpec, adapter: SourceAdapter, rules: LabelsConfig) -> SourceData:
    codes, labels, sets = ClassCodes(), _LabelParts(), tuple(adapter.label_sets)
    if adapter.one_label_per_image or adapter.labels_with_images:
        images = _read_labeled_images(adapter, codes, rules, labels, sets)
        reports = []
        images, merged, examples = _merge_duplicates(images, labels)
    else:
        images = _read_images(adapter)
        index = ImageIndex(images.column("image_id").combine_chunks())
        merged, examples = 0, []
        if not index.unique:  # the index's sort already proved most sources' ids unique
            images, merged, examples = _merge_duplicates(images)
            index = ImageIndex(images.column("image_id").combine_chunks()) if merged else index
        reports = _reports(adapter)
        _read_labels(adapter, index, codes, rules, labels, sets)
    if not images.num_rows:
        skipped = "; ".join(_reports(adapter)) or "no rows"
        raise InputError(", ".join(map(str, input_files(spec))) or adapter.name,
                         f"source {adapter.name!r} has no images ({skipped})")
    image_row, class_code, confidence, polarity, machine, label_set = labels.arrays()
    annotated = {name: _annotated(images.num_rows, image_row[label_set == i + 1]) for i, name in enumerate(sets)}
    counts = {"images": images.num_rows, "labels": len(image_row), "labels_unknown_image": labels.unknown,
              "positives": int((polarity == POSITIVE).sum()), "negatives": int((polarity == NEGATIVE).sum()),
              "ignored": int((polarity == IGNORED).sum()), "duplicate_image_ids": merged}
    skips = list(dict.fromkeys(reports + _reports(adapter)))  # a file read twice reports once
    if merged:
        skips.append(f"{adapter.name}: {merged} images repeat an earlier image id of this source and were "
                     f"merged into it (first row's columns kept, labels combined), e.g. {examples}")
    edges = adapter.hierarchy()
    return SourceData(spec, adapter.name, adapter.label_kind, images, codes.ids, image_row, class_code,
                      confidence, polarity, machine, label_set, sets, annotated, counts, skips,
                      adapter.class_names(),
                      list(zip(*(edges.column(c).to_pylist() for c in ("child", "parent", "relation")))))


LABEL_ARRAYS = ("image_row", "class_code", "confidence", "polarity", "machine", "label_set")


def _annotated(n_images: int, rows: np.ndarray) -> np.ndarray:
    """Per image: True when it has a label row (before class mapping) in the label set."""
    out = np.zeros(n_images, bool)
    out[rows] = True
    return out


def _merge_duplicates(images: pa.Table, labels: _LabelParts | None = None) -> tuple[pa.Table, int, list[str]]:
    """The image table without rows whose id repeats an earlier row's, how many, and the first few such ids.

    With `labels` (one label per image, rows aligned with the images), the labels of a
    dropped row move to the first row of its id.
    """
    found = duplicate_rows(images.column("source_image_id"))
    if found is None:
        return images, 0, []
    rows, first = found
    keep = np.ones(images.num_rows, bool)
    keep[rows] = False
    if labels is not None:
        target = np.arange(images.num_rows)
        target[rows] = first
        labels.move(np.cumsum(keep)[target] - 1)
    ids = images.column("source_image_id").take(pa.array(np.sort(rows)[:5])).to_pylist()
    return images.filter(pa.array(keep)), len(rows), ids


class _LabelParts:
    """Label arrays collected batch by batch, in `LABEL_ARRAYS` order."""

    def __init__(self) -> None:
        self.parts: list[tuple[np.ndarray, ...]] = []
        self.unknown = 0

    def add(self, batch: _Prepared, codes: ClassCodes) -> None:
        """Add a prepared batch, its local class codes turned into the source's codes."""
        self.unknown += batch.unknown
        self.parts.append((batch.rows, codes.of(batch.classes)[batch.local_codes], batch.confidence,
                           batch.polarity, batch.machine, batch.label_set))

    def move(self, new_row: np.ndarray) -> None:
        """Re-point every label's image row r to new_row[r]."""
        self.parts = [(new_row[rows].astype(np.int32), *rest) for rows, *rest in self.parts]

    def arrays(self) -> tuple[np.ndarray, ...]:
        if not self.parts:
            return (np.zeros(0, np.int32), np.zeros(0, np.int32), np.zeros(0, np.float32), np.zeros(0, np.int8),
                    np.zeros(0, bool), np.zeros(0, np.uint8))
        arrays = tuple(np.concatenate(p) for p in zip(*self.parts))
        self.parts = []
        return arrays


@dataclass
class _Prepared:
    """One LABELS batch's rows with a known image, as arrays; class ids coded against the batch's
    own dictionary (`classes`), which the reading thread maps to the source's codes."""

    rows: np.ndarray
    classes: pa.Array
    local_codes: np.ndarray
    confidence: np.ndarray
    polarity: np.ndarray
    machine: np.ndarray
    label_set: np.ndarray
    unknown: int


def _prepare(batch: pa.RecordBatch, rows: np.ndarray, rules: LabelsConfig, sets: tuple[str, ...]) -> _Prepared:
    """Everything per row about a label batch whose image rows are `rows` (-1: unknown image).

    Pure, so it runs in worker threads (pyarrow and numpy release the GIL).
    """
    known = rows >= 0
    rows = rows.astype(np.int32, copy=False)
    encoded = pc.dictionary_encode(batch.column("source_class"))
    conf = batch.column("confidence").to_numpy(zero_copy_only=False).astype(np.float32)
    kind = batch.column("label_source")
    machine = pc.equal(kind, "machine").to_numpy(zero_copy_only=False)
    polarity = polarity_of(kind, machine, conf, rules)
    label_set = _label_set(kind, sets)
    local = encoded.indices.to_numpy(zero_copy_only=False)
    if known.all():
        return _Prepared(rows, encoded.dictionary, local, conf, polarity, machine, label_set, 0)
    return _Prepared(rows[known], encoded.dictionary, local[known], conf[known], polarity[known], machine[known],
                     label_set[known], int((~known).sum()))


def _label_set(label_source: pa.Array, sets: tuple[str, ...]) -> np.ndarray:
    """uint8 label set of each row: 1 + position of its label_source in `sets`, 0 for the main labels."""
    if not sets:
        return np.zeros(len(label_source), np.uint8)
    found = pc.index_in(label_source, value_set=pa.array(sets, pa.string()))
    return (pc.fill_null(found, -1).to_numpy(zero_copy_only=False) + 1).astype(np.uint8)


def _read_images(adapter: SourceAdapter) -> pa.Table:
    """The adapter's images as one compacted table."""
    with Progress(f"read {adapter.name} images", unit="images") as progress:
        batches = []
        for batch in adapter.images():
            batches.append(batch)
            progress.update(batch.num_rows)
    return compact(pa.Table.from_batches(batches, schema=schemas.IMAGES))


def _read_labels(adapter: SourceAdapter, index: ImageIndex, codes: ClassCodes, rules: LabelsConfig,
                 labels: _LabelParts, sets: tuple[str, ...]) -> None:
    """The adapter's label rows, joined to image rows by `index`, prepared in worker threads."""
    def prepare(item: tuple[int, pa.RecordBatch]) -> _Prepared:
        position, batch = item
        return _prepare(batch, index.lookup(batch.column("image_id"), start_hint=position), rules, sets)

    with Progress(f"read {adapter.name} labels", unit="labels") as progress:
        for prepared in ordered_map(prepare, _with_positions(adapter.labels())):
            labels.add(prepared, codes)
            progress.update(len(prepared.rows) + prepared.unknown)


def _with_positions(batches: Iterator[pa.RecordBatch]) -> Iterator[tuple[int, pa.RecordBatch]]:
    """(row number of the batch's first row in the whole stream, batch)."""
    position = 0
    for batch in batches:
        yield position, batch
        position += batch.num_rows


def _read_labeled_images(adapter: SourceAdapter, codes: ClassCodes, rules: LabelsConfig,
                         labels: _LabelParts, sets: tuple[str, ...]) -> pa.Table:
    """Images and their labels in one pass: each label names its image's row in the batch."""
    with Progress(f"read {adapter.name} images and labels", unit="images") as progress:
        batches, position = [], 0
        for images, batch, rows in adapter.image_label_batches():
            if batch.num_rows != len(rows):
                raise ValueError(f"{adapter.name}: {batch.num_rows} labels for {len(rows)} image rows")
            batches.append(images)
            labels.add(_prepare(batch, (position + rows).astype(np.int32), rules, sets), codes)
            position += images.num_rows
            progress.update(images.num_rows)
    return compact(pa.Table.from_batches(batches, schema=schemas.IMAGES))


LOW_CARDINALITY = ("source", "split", "license")


def compact(images: pa.Table) -> pa.Table:
    """Dictionary-encode the columns with few distinct values (~1 GB less at 23M images).

    Partitions are cast back to the IMAGES schema when they are written.
    """
    for name in LOW_CARDINALITY:
        at = images.schema.get_field_index(name)
        images = images.set_column(at, name, pc.dictionary_encode(images.column(name)))
    return images


def _reports(adapter: SourceAdapter) -> list[str]:
    """Summaries of the rows the adapter skipped or repaired in its latest pass over each file."""
    return [r.summary() for r in adapter.skips if r.count] + [r.summary() for r in adapter.repairs]


class ClassCodes:
    """Stable codes for a source's class ids, in first-seen order."""

    def __init__(self) -> None:
        self.ids: list[str] = []
        self._known = pa.array([], pa.string())

    def of(self, dictionary: pa.Array) -> np.ndarray:
        """int32 code of each distinct value of a batch (new values get the next codes)."""
        if len(dictionary) == 0:
            return np.zeros(0, np.int32)
        found = pc.index_in(dictionary, value_set=self._known)
        new = dictionary.filter(pc.is_null(found))
        if len(new):
            self.ids += new.to_pylist()
            self._known = pa.array(self.ids, pa.string())
            found = pc.index_in(dictionary, value_set=self._known)
        return found.to_numpy(zero_copy_only=False).astype(np.int32)


def polarity_of(label_source: pa.Array, machine: np.ndarray, conf: np.ndarray, rules: LabelsConfig) -> np.ndarray:
    """Human-verified 0 -> negative, human 1 / other sources > 0 -> positive, machine by threshold."""
    human = pc.is_in(label_source, value_set=pa.array(rules.human_sources)).to_numpy(zero_copy_only=False)
    out = np.zeros(len(conf), np.int8)
    out[(conf > 0) & ~machine] = POSITIVE
    out[machine & (conf >= rules.machine_min_confidence)] = POSITIVE
    if rules.negatives:
        out[human & (conf == 0)] = NEGATIVE
    return out
