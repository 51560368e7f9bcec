"""The numbers `mlbuild report` shows, read from a finished build in one pass over its image parts.

Per-split label statistics come from `summary.SplitStats` (what `inspect` prints); the rest are
group-by counts over the parts' low-cardinality columns, done part by part (bounded memory).
"""
from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from mlbuild._util.parquet import read_table
from mlbuild._util.progress import Progress
from mlbuild.manifests.summary import SPLIT_COLUMNS, SplitStats, image_parts, load_build

GROUPS = {"split": ["source", "split"], "status": ["source", "status"], "license": ["source", "license"]}


@dataclass
class ReportData:
    """Everything the report shows, as plain tables and counters."""

    out: Path
    record: dict[str, Any]
    classes: pa.Table
    hierarchy: pa.Table
    source_classes: pa.Table
    dedup_pairs: pa.Table
    cooccurrence: pa.Table | None
    splits: dict[str, SplitStats] = field(default_factory=dict)
    groups: dict[str, Counter] = field(default_factory=dict)      # GROUPS name -> (key...) -> images
    authors: Counter = field(default_factory=Counter)              # source -> images with an author
    overlap: Counter = field(default_factory=Counter)              # (removed row's source, kept source) -> rows
    removed: Counter = field(default_factory=Counter)              # (source, split, reason) -> rows


def gather(out_dir: Path, progress: Progress | None = None) -> ReportData:
    """Read build.json, the small manifests and one pass over the image parts."""
    out = Path(out_dir)
    record, classes = load_build(out)
    cooc = out / "cooccurrence.parquet"
    data = ReportData(out, record, classes, read_table(out / "hierarchy.parquet"),
                      read_table(out / "source_classes.parquet"), read_table(out / "dedup_pairs.parquet"),
                      read_table(cooc) if cooc.is_file() else None, groups={k: Counter() for k in GROUPS})
    parts = image_parts(out)
    with ThreadPoolExecutor(max_workers=2) as pool:
        for (split, _), table in zip(parts, pool.map(lambda p: _read(p[1]), parts)):
            _count(data, split, table)
            if progress is not None:
                progress.update(1)
    return data


def _read(path: Path) -> pa.Table:
    names = set(pq.read_schema(path).names)
    wanted = SPLIT_COLUMNS + ["source", "split", "status", "license", "author"]
    return read_table(path, [c for c in wanted if c in names])


def _count(data: ReportData, split: str, table: pa.Table) -> None:
    """Add one part's rows to every counter."""
    data.splits.setdefault(split, SplitStats()).add(table)
    keys = [k for k in ("source", "split", "status", "license") if k in table.column_names]
    plain = pa.table({k: table.column(k).cast(pa.string()) for k in keys})
    for row in plain.group_by(keys).aggregate([([], "count_all")]).to_pylist():  # one pass, a few groups
        for name, group in GROUPS.items():
            if all(k in keys for k in group):
                data.groups[name][tuple(row[k] for k in group)] += row["count_all"]
    if "author" in table.column_names:
        with_author = table.filter(pc.is_valid(table.column("author")))
        counts = pc.value_counts(with_author.column("source").combine_chunks()).to_pylist()
        data.authors.update({c["values"]: c["counts"] for c in counts})
    removed = table.filter(pc.is_valid(table.column("dedup")))
    for source, reason in zip(removed.column("source").to_pylist(), removed.column("dedup").to_pylist()):
        kind, _, other = reason.partition(":")
        data.removed[(source, split, kind)] += 1
        if kind == "duplicate_of":
            data.overlap[(source, other.partition(":")[0])] += 1
