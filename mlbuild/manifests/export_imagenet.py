"""`mlbuild export imagenet`: a build as ImageNet-style class and file lists.

- `synsets.txt`: one WNID per line in class order (line k = class_index k; usable again as
  `[classes] vocabulary`).
- `<split>.txt` (`val.txt` for the validation split): `path class_index class_index ...` for every
  kept image with a local file (downloaded or local source) and at least one label; the labels
  are the build's propagated labels (ancestors included), in class order. A path containing
  whitespace cannot be written in this format and is left out (counted).
"""
from __future__ import annotations

from functools import partial
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from mlbuild.manifests.export_common import (
    BuildReader,
    ExportFolder,
    ExportReport,
    line_bytes,
    split_file_name,
    write_atomic_text,
    write_parts,
)

SYNSETS = "synsets.txt"


def export_imagenet(build_dir: Path, out: Path) -> ExportReport:
    """Write synsets.txt and one `path class_index ...` list per split into `out`."""
    build, report = BuildReader(build_dir), ExportReport()
    folder = ExportFolder(out, "imagenet", build_dir)
    wnids = build.classes.column("wnid").to_pylist()
    report.files[SYNSETS] = write_atomic_text(folder, SYNSETS, "".join(f"{w}\n" for w in wnids))
    tokens = pa.array([f" {i}" for i in range(build.n_classes)], pa.string())
    for split in build.splits():
        name = f"{split_file_name(split)}.txt"
        write_parts(folder, name, build.mapped(split, partial(_part_text, build, tokens)), report)
    return report


def _part_text(build: BuildReader, tokens: pa.Array, part: Path) -> tuple[pa.Buffer, int, ExportReport]:
    """One part's `path idx ...` lines (bytes), their count, and the images it left out."""
    report = ExportReport()
    table, keep = build.read(part, ["path", "labels"], report)
    no_file = pc.is_null(table.column("path")).to_numpy(zero_copy_only=False) & keep
    spaced = pc.fill_null(pc.match_substring_regex(table.column("path"), r"\s"), False).to_numpy(
        zero_copy_only=False) & keep
    empty = (pc.list_value_length(table.column("labels")).to_numpy(zero_copy_only=False) == 0) & keep
    empty &= ~no_file & ~spaced
    report.skip("no local file", int(no_file.sum()))
    report.skip("whitespace in the path", int(spaced.sum()))
    report.skip("no labels", int(empty.sum()))
    keep = keep & ~no_file & ~spaced & ~empty
    labels = table.column("labels").combine_chunks()
    codes = pc.list_flatten(labels).to_numpy(zero_copy_only=False).astype(np.int64)
    return line_bytes(table.column("path").combine_chunks(), labels, tokens, codes, keep), int(keep.sum()), report
