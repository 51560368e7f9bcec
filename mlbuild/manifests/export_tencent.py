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
    ones = pa.array([f"\t{i}:1" for i in range(build.n_classes)], pa.string())
    for split in build.splits():
        name = f"{split_file_name(split)}_urls.txt"
        write_parts(folder, name, build.mapped(split, partial(_part_text, build, ones)), report)
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


def _part_text(build: BuildReader, ones: pa.Array, part: Path) -> tuple[pa.Buffer, int, ExportReport]:
    """One part's lines (bytes), their count, and the images it left out."""
    report = ExportReport()
    table, keep = build.read(part, ["url", "labels", "confidences"], report)
    no_url = pc.is_null(table.column("url")).to_numpy(zero_copy_only=False) & keep
    empty = (pc.list_value_length(table.column("labels")).to_numpy(zero_copy_only=False) == 0) & keep & ~no_url
    report.skip("no URL", int(no_url.sum()))
    report.skip("no labels", int(empty.sum()))
    keep = keep & ~no_url & ~empty
    labels = table.column("labels").combine_chunks()
    classes = pc.list_flatten(labels).to_numpy(zero_copy_only=False).astype(np.int64)
    confidences = pc.list_flatten(table.column("confidences")).to_numpy(zero_copy_only=False)
    tokens, codes = label_tokens(ones, classes, confidences)
    return line_bytes(table.column("url").combine_chunks(), labels, tokens, codes, keep), int(keep.sum()), report


def label_tokens(ones: pa.Array, classes: np.ndarray, confidences: np.ndarray) -> tuple[pa.Array, np.ndarray]:
    """A token table (`\tidx:conf`) and each label's entry in it.

    Entry i < n_classes is `\ti:1` (nearly every label); the few (class, confidence) pairs below 1
    present get entries after them, formatted once each in the shortest form that reads back as the
    same float32 (`0.9`).
    """
    below = np.flatnonzero(confidences != 1)
    if not len(below):
        return ones, classes
    levels, level = np.unique(confidences[below], return_inverse=True)
    pairs, pair = np.unique(classes[below] * len(levels) + level, return_inverse=True)
    extra = [f"\t{p // len(levels)}:{_number(levels[p % len(levels)])}" for p in pairs.tolist()]
    codes = classes.copy()
    codes[below] = len(ones) + pair
    return pa.concat_arrays([ones, pa.array(extra, pa.string())]), codes


def _number(value: float) -> str:
    """The shortest text that reads back as the same float32 (`1`, `0.9`)."""
    return np.format_float_positional(np.float32(value), trim="-")
