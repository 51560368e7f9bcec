"""`mlbuild export multihot`: the build's labels as sparse matrices, for trainers that want arrays.

Per split:
- `<split>.npz`: a CSR matrix in `scipy.sparse.save_npz`'s layout (`scipy.sparse.load_npz` reads it;
  plain `numpy.load` too): rows = the split's kept images in manifest order, columns = classes
  (class_index), values = the confidence of each (propagated) label; `indptr` int64, `indices`
  int32, `data` float32, `shape`, `format` = csr.
- `<split>_images.parquet`: row, image_id, url, path of each matrix row.
Plus `classes.tsv`: class_index, WNID, name. The arrays are streamed into the zip part by part
(three passes over the split's parts: row counts, indices, values), so memory stays bounded; the
zip's timestamps are fixed, so the bytes are the same on every run.
"""
from __future__ import annotations

import zipfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from mlbuild._util.parquet import WRITE_OPTIONS
from mlbuild.manifests.export_common import (
    BuildReader,
    ExportFolder,
    ExportReport,
    write_atomic_text,
    write_numpy_member,
)

ZIP_TIME = (1980, 1, 1, 0, 0, 0)
ROWS = pa.schema([pa.field("row", pa.int64()), pa.field("image_id", pa.string()), pa.field("url", pa.string()),
                  pa.field("path", pa.string())])


def export_multihot(build_dir: Path, out: Path) -> ExportReport:
    """Write classes.tsv and, per split, its sparse label matrix and row table into `out`."""
    build, report = BuildReader(build_dir), ExportReport()
    folder = ExportFolder(out, "multihot", build_dir)
    rows = [f"{i}\t{w}\t{n}\n" for i, (w, n) in enumerate(zip(build.classes.column("wnid").to_pylist(),
                                                                build.classes.column("name").to_pylist()))]
    report.files["classes.tsv"] = write_atomic_text(folder, "classes.tsv", "".join(rows))
    for split in build.splits():
        counts = _write_rows(build, folder, split, report)
        report.files[f"{split}_images.parquet"] = len(counts)
        _write_matrix(build, folder, split, counts)
        report.files[f"{split}.npz"] = len(counts)
    return report


def _write_rows(build: BuildReader, folder: ExportFolder, split: str, report: ExportReport) -> np.ndarray:
    """Write the row table; returns the number of labels of each row."""
    path, partial = folder.open_partial(f"{split}_images.parquet")
    counts, start = [], 0
    with pq.ParquetWriter(partial, ROWS, use_dictionary=False, **WRITE_OPTIONS) as writer:
        for part in build.parts(split):
            table = build.kept(part, ["image_id", "url", "path", "labels"], report)
            counts.append(pc.list_value_length(table.column("labels")).to_numpy(zero_copy_only=False))
            row = pa.array(np.arange(start, start + table.num_rows, dtype=np.int64))
            writer.write_table(pa.table([row, *(table.column(c) for c in ("image_id", "url", "path"))], ROWS))
            start += table.num_rows
    folder.publish(partial, path)
    return np.concatenate(counts) if counts else np.zeros(0, np.int64)


def _write_matrix(build: BuildReader, folder: ExportFolder, split: str, counts: np.ndarray) -> None:
    """Stream the CSR arrays of the split into `<split>.npz`."""
    path, partial = folder.open_partial(f"{split}.npz")
    indptr = np.zeros(len(counts) + 1, np.int64)
    np.cumsum(counts, out=indptr[1:])
    nnz, shape = int(indptr[-1]), (len(counts), build.n_classes)
    members = [("indices.npy", np.int32, (nnz,), _values(build, split, "labels")),
               ("indptr.npy", np.int64, (len(indptr),), iter([indptr])),
               ("format.npy", np.dtype("S3"), (), iter([np.array(b"csr")])),
               ("shape.npy", np.int64, (2,), iter([np.array(shape, np.int64)])),
               ("data.npy", np.float32, (nnz,), _values(build, split, "confidences"))]
    with zipfile.ZipFile(partial, "w", allowZip64=True) as archive:
        for name, dtype, size, chunks in members:
            info = zipfile.ZipInfo(name, date_time=ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            with archive.open(info, "w", force_zip64=True) as fh:
                write_numpy_member(fh, np.dtype(dtype), size, chunks)
    folder.publish(partial, path)


def _values(build: BuildReader, split: str, column: str) -> Iterator[np.ndarray]:
    """The flattened list column of the split's kept rows, part by part."""
    ignored = ExportReport()  # the row pass already counted what is left out
    for part in build.parts(split):
        table = build.kept(part, [column], ignored)
        yield pc.list_flatten(table.column(column)).to_numpy(zero_copy_only=False)
