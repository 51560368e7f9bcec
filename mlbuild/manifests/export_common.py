"""What every exporter shares: reading a finished build part by part, and writing an export folder safely.

An exporter is a function `export(build_dir: Path, out: Path) -> ExportReport` (registered by
name in `mlbuild.commands.export.FORMATS`). It reads the build's manifests with `BuildReader`
(one image part file at a time, so memory does not grow with the build), writes its files
through `ExportFolder` (atomic, and never over a file mlbuild did not write), and reports the
lines or rows it wrote per file and the images it left out per reason. Images removed by the
build's dedup (`dedup` not null) are never exported.
"""
from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, TypeVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from mlbuild._util.parquet import read_table
from mlbuild._util.threads import ordered_map
from mlbuild.errors import InputError, MlbuildError

R = TypeVar("R")
MARKER = ".mlbuild-export.json"
SPLIT_FILE_NAMES = {"validation": "val"}   # split -> the name published lists use for it


@dataclass
class ExportReport:
    """Lines or rows written per output file (relative name), images left out per reason."""

    files: dict[str, int] = field(default_factory=dict)
    skipped: dict[str, int] = field(default_factory=dict)

    def skip(self, reason: str, count: int) -> None:
        """Count images left out for a reason."""
        if count:
            self.skipped[reason] = self.skipped.get(reason, 0) + count


Exporter = Callable[[Path, Path], ExportReport]


class BuildReader:
    """A finished build's classes, hierarchy and image parts (per split, in part order)."""

    def __init__(self, build_dir: Path) -> None:
        self.dir = Path(build_dir)
        if not (self.dir / "build.json").is_file():
            raise InputError(self.dir, "no build.json: not a finished mlbuild build")
        self.classes = read_table(self.dir / "classes.parquet")
        self.hierarchy = read_table(self.dir / "hierarchy.parquet")

    @property
    def n_classes(self) -> int:
        return self.classes.num_rows

    def splits(self) -> list[str]:
        """The build's splits, sorted."""
        folder = self.dir / "images"
        return sorted(p.name for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else []

    def parts(self, split: str) -> list[Path]:
        """The split's image part files in order."""
        return sorted((self.dir / "images" / split).glob("part-*.parquet"))

    def read(self, path: Path, columns: list[str], report: ExportReport) -> tuple[pa.Table, np.ndarray]:
        """One part's rows with the given columns, and the mask of those the build kept (dedup null);
        the removed ones are counted."""
        table = read_table(path, columns=[*columns, "dedup"])
        keep = pc.is_null(table.column("dedup")).to_numpy(zero_copy_only=False)
        report.skip("removed by the build's dedup", int(len(keep) - keep.sum()))
        return table.drop_columns(["dedup"]), keep

    def kept(self, path: Path, columns: list[str], report: ExportReport) -> pa.Table:
        """One part's rows the build kept, with the given columns; removed ones counted."""
        table, keep = self.read(path, columns, report)
        return table if keep.all() else table.filter(pa.array(keep))

    def mapped(self, split: str, fn: Callable[[Path], R], workers: int = 2) -> Iterator[R]:
        """fn(part) for the split's parts, two at a time in threads, in part order."""
        return ordered_map(fn, self.parts(split), workers)


def split_file_name(split: str) -> str:
    """The file-name stem published lists use for a split (`validation` -> `val`)."""
    return SPLIT_FILE_NAMES.get(split, split)


class ExportFolder:
    """An output folder whose files are written atomically and recorded in `.mlbuild-export.json`.

    A file is claimed (recorded) before it is written, so a rerun after a kill may replace it; a
    file that exists and is not recorded was not written by mlbuild and is never overwritten.
    """

    def __init__(self, out: Path, fmt: str, build_dir: Path) -> None:
        self.out = Path(out)
        self.out.mkdir(parents=True, exist_ok=True)
        self.marker = self.out / MARKER
        record = json.loads(self.marker.read_text()) if self.marker.is_file() else {}
        self.record = {"format": fmt, "build": str(Path(build_dir).resolve()), "files": record.get("files", [])}
        self._save()

    def claim(self, name: str) -> Path:
        """The path of output file `name`, recorded as mlbuild's; MlbuildError if a foreign file is there."""
        path = self.out / name
        if path.exists() and name not in self.record["files"]:
            raise MlbuildError(f"{path} exists and was not written by mlbuild export: not overwriting it")
        if name not in self.record["files"]:
            self.record["files"] = sorted([*self.record["files"], name])
            self._save()
        return path

    def write_stream(self, name: str, chunks: Iterator[bytes | memoryview | pa.Buffer]) -> int:
        """Write the chunks to `name` through a temporary file and a rename; returns bytes written."""
        path = self.claim(name)
        partial = path.with_name(f".{path.name}.partial")
        size = 0
        with open(partial, "wb") as fh:
            for chunk in chunks:
                fh.write(chunk)
                size += len(chunk)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(partial, path)
        return size

    def open_partial(self, name: str) -> tuple[Path, Path]:
        """(final path, temporary path) for a writer that manages its own file; rename with `publish`."""
        path = self.claim(name)
        return path, path.with_name(f".{path.name}.partial")

    @staticmethod
    def publish(partial: Path, path: Path) -> None:
        """Move a finished temporary file into place."""
        with open(partial, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(partial, path)

    def _save(self) -> None:
        tmp = self.marker.with_name(f"{MARKER}.tmp")
        tmp.write_text(json.dumps(self.record, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        os.replace(tmp, self.marker)


def line_bytes(head: pa.Array, labels: pa.ListArray, tokens: pa.Array, codes: np.ndarray,
               keep: np.ndarray) -> pa.Buffer:
    """The bytes of one text line per kept row: `head`, then the row's label tokens, then a newline.

    `tokens` is a small string table (each token carries its own leading separator, e.g. `\t12:0.9`)
    and `codes` gives the table entry of each flattened label (of every row). Built by one gather
    (`take`) over the heads and the table, whose value buffer is the text: no per-row Python, no
    per-token formatting, and the rows left out are never copied.
    """
    counts = np.diff(labels.offsets.to_numpy())
    codes, counts, rows = codes[np.repeat(keep, counts)], counts[keep], np.flatnonzero(keep)
    n, total = len(rows), int(counts.sum())
    line_start = np.cumsum(counts) - counts + 2 * np.arange(n)     # each line: head, its tokens, newline
    index = np.empty(total + 2 * n, np.int64)
    index[line_start] = rows
    index[np.arange(total) + 2 * np.repeat(np.arange(n), counts) + 1] = len(head) + codes
    index[line_start + counts + 1] = len(head) + len(tokens)
    source = pa.concat_arrays([head.cast(pa.string()), tokens.cast(pa.string()), pa.array(["\n"])])
    joined = source.take(pa.array(index))
    value_offsets = np.frombuffer(joined.buffers()[1], np.int32, len(joined) + 1, joined.offset * 4)
    return joined.buffers()[2][int(value_offsets[0]):int(value_offsets[-1])]


def write_parts(folder: ExportFolder, name: str, parts: Iterator[tuple[pa.Buffer, int, ExportReport]],
                report: ExportReport) -> None:
    """Stream the parts' (text, lines, left out) results into file `name`, one part in memory at a time."""
    report.files[name] = 0

    def chunks() -> Iterator[pa.Buffer]:
        for text, lines, skipped in parts:
            report.files[name] += lines
            for reason, count in skipped.skipped.items():
                report.skip(reason, count)
            yield text
    folder.write_stream(name, chunks())


def write_atomic_text(folder: ExportFolder, name: str, text: str) -> int:
    """A small text file, atomically; returns its line count."""
    folder.write_stream(name, iter([text.encode("utf-8")]))
    return text.count("\n")


def write_numpy_member(fh: BinaryIO, dtype: np.dtype, shape: tuple[int, ...], chunks: Iterator[np.ndarray]) -> None:
    """An .npy file written from chunks (header first), for arrays too large to hold."""
    np.lib.format.write_array_header_1_0(fh, {"descr": np.lib.format.dtype_to_descr(np.dtype(dtype)),
                                              "fortran_order": False, "shape": shape})
    for chunk in chunks:
        fh.write(np.ascontiguousarray(chunk, dtype=dtype).tobytes())
