"""`mlbuild export tencent`: a build as Tencent ML-Images' files.

- `dictionary_and_semantic_hierarchy.txt`: Tencent's header, then per class in class order
  `class_index<TAB>WNID<TAB>parent index (-1 for a root)<TAB>name`. A class with several parents
  (a WordNet DAG build) gets the one `mlbuild.classes.taxonomy.single_parents` keeps, the same
  rule as `[taxonomy] tree = true`.
- `<split>_urls.txt` (`val_urls.txt` for the validation split): one line per kept image with a URL
  and at least one label, `URL<TAB>idx:conf<TAB>...`, labels in class order with their ancestors
  (the build's propagated labels; an ancestor's confidence is the highest of the labels implying it).
  Confidences are written in the shortest form that reads back as the same float32 (`1`, `0.9`).
"""
from __future__ import annotations

from functools import partial
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from mlbuild.classes.taxonomy import single_parents
from mlbuild.manifests.export_common import (
    BuildReader,
    ExportFolder,
    ExportReport,
    line_bytes,
    split_file_name,
    write_atomic_text,
    write_parts,
)
from mlbuild.sources.hierarchies import TENCENT_HEADER

DICTIONARY = "dictionary_and_semantic_hierarchy.txt"


def export_tencent(build_dir: Path, out: Path) -> ExportReport:
    """Write the build's dictionary and one URL list per split into `out`."""
    build, report = BuildReader(build_dir), ExportReport()
    folder = ExportFolder(out, "tencent", build_dir)
    report.files[DICTIONARY] = write_atomic_text(folder, DICTIONARY, dictionary_text(build)) - 1
    prefixes = pa.array([f"\t{i}:" for i in range(build.n_classes)], pa.string())
    for split in build.splits():
        name = f"{split_file_name(split)}_urls.txt"
        write_parts(folder, name, build.mapped(split, partial(_part_text, build, prefixes)), report)
    return report


def dictionary_text(build: BuildReader) -> str:
    """Tencent's dictionary file for the build's classes: header, then index, WNID, parent, name."""
    wnids = build.classes.column("wnid").to_pylist()
    names = build.classes.column("name").to_pylist()
    rows = [TENCENT_HEADER] + [f"{i}\t{w}\t{p}\t{n}" for i, (w, p, n) in enumerate(zip(wnids, parent_of(build),
                                                                                       names))]
    return "\n".join(rows) + "\n"


def parent_of(build: BuildReader) -> list[int]:
    """One parent class index per class (-1 for roots), by the tree rule where a class has several."""
    parents = build.classes.column("parents").to_pylist()
    if all(len(p) <= 1 for p in parents):
        return [p[0] if p else -1 for p in parents]
    edges: list[dict[int, str]] = [{} for _ in parents]
    h = build.hierarchy
    for child, parent, relation in zip(h.column("child").to_pylist(), h.column("parent").to_pylist(),
                                       h.column("relation").to_pylist()):
        edges[child][parent] = relation
    return single_parents(edges, build.classes.column("wnid").to_pylist())


def _part_text(build: BuildReader, prefixes: pa.Array, part: Path) -> tuple[pa.Buffer, int, ExportReport]:
    """One part's lines (bytes), their count, and the images it left out."""
    report = ExportReport()
    table = build.kept(part, ["url", "labels", "confidences"], report)
    no_url = pc.is_null(table.column("url"))
    empty = pc.equal(pc.list_value_length(table.column("labels")), 0)
    report.skip("no URL", int(pc.sum(no_url).as_py() or 0))
    report.skip("no labels", int(pc.sum(pc.and_not(empty, no_url)).as_py() or 0))
    table = table.filter(pc.invert(pc.or_(no_url, empty)))
    labels = table.column("labels").combine_chunks()
    confidences = pc.list_flatten(table.column("confidences")).to_numpy(zero_copy_only=False)
    levels, level = confidence_levels(confidences)
    tokens = pa.concat_arrays([prefixes, pa.array([_number(x) for x in levels], pa.string())])
    codes = np.stack([pc.list_flatten(labels).to_numpy(zero_copy_only=False).astype(np.int64),
                      len(prefixes) + level], axis=1)
    return line_bytes(table.column("url").combine_chunks(), labels, tokens, codes), table.num_rows, report


def confidence_levels(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(distinct values, index of each value among them); fast when nearly all are 1."""
    one = values == 1
    if one.all():
        return np.ones(1, np.float32), np.zeros(len(values), np.int64)
    levels = np.unique(np.concatenate([np.ones(1, np.float32), values[~one]]))
    return levels, np.searchsorted(levels, values)


def _number(value: float) -> str:
    """The shortest text that reads back as the same float32 (`1`, `0.9`)."""
    return np.format_float_positional(np.float32(value), trim="-")
