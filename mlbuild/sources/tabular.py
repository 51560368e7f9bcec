"""A custom image list (CSV, Parquet or JSONL) as a source.

One row per image: an id column, a URL and/or local-path column, and a labels column
holding WNIDs, NLTK synset names (`dog.n.01`), class names or free-text tags. Labels
are a list column or one string split on `delimiter`; for tags, hashtags are split too
and `#` is stripped (`"#sunset #beach"` gives `sunset`, `beach`). The raw strings are
yielded as `source_class`; `label_kind` tells `mlbuild.classes.mapping` how to resolve them.
WNIDs and synset names are checked syntactically; a bad label or a row without id or
location is skipped and counted with its line (CSV) or 1-based row number (Parquet, JSONL).
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.json as pajson
import pyarrow.parquet as pq

from mlbuild.errors import InputError, SkipReport
from mlbuild.sources.base import SourceAdapter, classes_table, failing_rows, images_batch, labels_batch, record_skips
from mlbuild.sources.textio import CSV_BLOCK_BYTES
from mlbuild.sources.wnids import WNID_REGEX

KIND_CHECKS = {"wnid": (WNID_REGEX, "not a WNID (n + 8 digits)"),
               "synset": (r"^.+\.n\.[0-9]{2}$", "not a noun synset name (lemma.n.NN)"),
               "name": (r".", "empty label"),
               "tag": (r".", "empty tag")}
FORMATS = {".csv": "csv", ".tsv": "csv", ".parquet": "parquet", ".pq": "parquet", ".jsonl": "jsonl",
           ".ndjson": "jsonl", ".json": "jsonl"}


@dataclass
class TabularConfig:
    """How to read a custom list; `format` defaults from the file suffix."""

    path: Path
    name: str
    id_column: str
    labels_column: str
    label_kind: str = field(default="name", metadata={"choices": tuple(KIND_CHECKS)})
    url_column: str | None = None
    path_column: str | None = None
    delimiter: str | None = None
    confidence_column: str | None = None
    split_column: str | None = None
    split: str = "train"
    format: str | None = field(default=None, metadata={"choices": ("csv", "parquet", "jsonl")})
    batch_rows: int = field(default=1 << 20, metadata={"min": 1})


class Tabular(SourceAdapter):
    """Images and raw labels of a custom CSV / Parquet / JSONL list."""

    config_class = TabularConfig

    def __init__(self, config: TabularConfig) -> None:
        if config.label_kind not in KIND_CHECKS:
            raise InputError(config.path, f"label_kind must be one of {sorted(KIND_CHECKS)}, not {config.label_kind!r}",
                             field="label_kind")
        if config.url_column is None and config.path_column is None:
            raise InputError(config.path, "give url_column or path_column (or both)", field="url_column")
        self.format = config.format or FORMATS.get(Path(config.path).suffix.lower())
        if self.format not in ("csv", "parquet", "jsonl"):
            raise InputError(config.path, "unknown format: set format to csv, parquet or jsonl")
        super().__init__(config.name)
        self.config = config
        self.label_kind = config.label_kind

    def classes(self) -> pa.Table:
        """The distinct label strings, sorted (names are the strings themselves)."""
        found = [pc.unique(b.column("source_class")) for b in self.labels()]
        values = pc.unique(pa.chunked_array(found, pa.string()))
        values = values.take(pc.sort_indices(values))
        wnids = values if self.label_kind == "wnid" else None
        return classes_table(self.name, values, values, wnids)

    def images(self) -> Iterator[pa.RecordBatch]:
        """IMAGES batches: id, url and/or path, split."""
        c = self.config
        for _, batch in self._rows(self.new_skip_report(c.path)):
            yield images_batch(self.name, batch.column(c.id_column), self._split(batch),
                               url=_column(batch, c.url_column), path=self._paths(batch))

    def _paths(self, batch: pa.RecordBatch) -> pa.Array | None:
        """The path column, relative paths resolved against the folder of the table file."""
        paths = _column(batch, self.config.path_column)
        if paths is None:
            return None
        folder = str(Path(self.config.path).resolve().parent) + "/"
        absolute = pc.starts_with(paths.cast(pa.string()), "/")
        return pc.if_else(absolute, paths, pc.binary_join_element_wise(folder, paths.cast(pa.string()), ""))

    def labels(self) -> Iterator[pa.RecordBatch]:
        """LABELS batches: one row per (image, label string), label_source = the source name.

        A label that fails its kind's syntax check is skipped (counted once per label).
        """
        c = self.config
        report = self.new_skip_report(c.path)
        regex, reason = KIND_CHECKS[c.label_kind]
        for first, batch in self._rows(report):
            rows, values = label_pairs(batch.column(c.labels_column), c.delimiter, c.label_kind)
            bad = pc.invert(pc.match_substring_regex(values, regex))
            if pc.any(bad).as_py():
                report.extend((first + np.asarray(batch.column("_line").take(rows.filter(bad)))).tolist(),
                              f"label {reason}")
                rows, values = rows.filter(pc.invert(bad)), values.filter(pc.invert(bad))
            ids = batch.column(c.id_column).take(rows)
            confidence = 1.0 if c.confidence_column is None else batch.column(c.confidence_column).take(rows)
            yield labels_batch(self.name, ids, values, confidence, self.name)

    def _split(self, batch: pa.RecordBatch) -> str | pa.Array:
        return self.config.split if self.config.split_column is None else batch.column(self.config.split_column)

    def _rows(self, report: SkipReport) -> Iterator[tuple[int, pa.RecordBatch]]:
        """Batches of the rows with an id and a location (others skipped), ids and places as strings.

        Each batch gets a `_line` column: the row's offset from the batch's first line.
        """
        c = self.config
        location = [x for x in (c.url_column, c.path_column) if x]
        for first, batch in self._batches():
            try:
                batch = _as_strings(batch, [c.id_column, *location, *(x for x in (c.split_column,) if x)])
            except KeyError as err:
                raise InputError(c.path, f"{err.args[0]}; columns: {batch.schema.names}") from None
            blank = [pc.equal(pc.fill_null(batch.column(x), ""), "") for x in (c.id_column, *location)]
            checks = [(blank[0], "no image id"),
                      (blank[1] if len(blank) == 2 else pc.and_(blank[1], blank[2]), "no URL or path")]
            if c.confidence_column:
                conf = batch.column(c.confidence_column).cast(pa.float32())
                batch = batch.set_column(batch.schema.get_field_index(c.confidence_column), c.confidence_column, conf)
                checks.append((pc.invert(pc.and_(pc.greater_equal(conf, 0), pc.less_equal(conf, 1))),
                               "confidence is not in [0, 1]"))
            failures, keep = failing_rows(checks)
            record_skips(report, first, failures)
            batch = batch.append_column("_line", pa.array(np.arange(batch.num_rows)))
            yield first, batch if keep is None else batch.filter(keep)

    def _batches(self) -> Iterator[tuple[int, pa.RecordBatch]]:
        """(first line or row number, batch) of the needed columns, in file order."""
        c = self.config
        wanted = [x for x in (c.id_column, c.labels_column, c.url_column, c.path_column, c.confidence_column,
                              c.split_column) if x]
        try:
            if self.format == "parquet":
                yield from _numbered(1, pq.ParquetFile(c.path).iter_batches(c.batch_rows, columns=wanted))
            elif self.format == "jsonl":
                reader = pajson.open_json(c.path, pajson.ReadOptions(block_size=CSV_BLOCK_BYTES))
                yield from _numbered(1, (b.select(wanted) for b in reader))
            else:
                delimiter = "\t" if Path(c.path).suffix.lower() == ".tsv" else ","
                reader = pacsv.open_csv(c.path, pacsv.ReadOptions(block_size=CSV_BLOCK_BYTES, use_threads=False),
                                        pacsv.ParseOptions(delimiter=delimiter),
                                        pacsv.ConvertOptions(include_columns=wanted,
                                                             column_types={x: pa.string() for x in wanted
                                                                           if x != c.confidence_column}))
                yield from _numbered(2, reader)
        except (pa.ArrowInvalid, KeyError) as err:
            raise InputError(c.path, f"{err} (columns wanted: {wanted})") from None


def _numbered(first: int, batches: Iterator[pa.RecordBatch]) -> Iterator[tuple[int, pa.RecordBatch]]:
    for batch in batches:
        yield first, batch
        first += batch.num_rows


def _as_strings(batch: pa.RecordBatch, names: list[str]) -> pa.RecordBatch:
    """The named columns cast to string (ids may be integers in Parquet/JSONL)."""
    for name in names:
        i = batch.schema.get_field_index(name)
        if i < 0:
            raise KeyError(f"no column {name!r}")
        if batch.column(i).type != pa.string():
            batch = batch.set_column(i, name, batch.column(i).cast(pa.string()))
    return batch


def _column(batch: pa.RecordBatch, name: str | None) -> pa.Array | None:
    return None if name is None else batch.column(name)


def label_pairs(column: pa.Array, delimiter: str | None, kind: str) -> tuple[pa.Array, pa.Array]:
    """(row index, label string) for every label of every row; empty labels dropped.

    A list column is used as is; a string column is split on `delimiter` (or is one
    label per row). Tags are also split at `#`, which is dropped.
    """
    if pa.types.is_list(column.type) or pa.types.is_large_list(column.type):
        lists = column.cast(pa.list_(pa.string()))
    elif delimiter is not None:
        lists = pc.split_pattern(column.cast(pa.string()), delimiter)
    else:
        lists = pa.ListArray.from_arrays(pa.array(np.arange(len(column) + 1, dtype=np.int32)),
                                         column.cast(pa.string()))
    rows, values = pc.list_parent_indices(lists), pc.list_flatten(lists)
    if kind == "tag":
        parts = pc.split_pattern(values, "#")
        rows, values = rows.take(pc.list_parent_indices(parts)), pc.list_flatten(parts)
    values = pc.utf8_trim_whitespace(values)
    present = pc.fill_null(pc.not_equal(values, ""), False)
    return rows.filter(present), values.filter(present)
