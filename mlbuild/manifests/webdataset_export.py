"""Shards from a finished build: each split's usable images with their labels, ready to train on.

An image goes into a shard when it has a file (`path`), its download status is `ok` (or
null: a local file) and dedup did not remove it (`dedup` null). Training images go into
`train-NNNNN.tar`, every other split into its own `<split>-NNNNN.tar`, in image_id order,
so the same build gives byte-identical shards. Each sample's JSON is its manifest row:
image_id, source, split, labels (class indices), wnids (classes.parquet), confidences.
Images are stored as they are (the downloaded, possibly already resized file) or
re-shaped by a `ResizeSpec` (when the build kept originals, or to change the size).
"""
from __future__ import annotations

import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from mlbuild._util.parquet import read_table
from mlbuild.errors import InputError
from mlbuild.images.download.resize import ResizeSpec, reshape_bytes
from mlbuild.images.download.store import EXTENSIONS
from mlbuild.images.shard_writer import ShardSummary, sample_key, write_shards

META = ["image_id", "source", "split", "labels", "wnids", "confidences"]


@dataclass
class ExportSummary:
    """Shards written per split and the images left out, by reason."""

    splits: dict[str, ShardSummary] = field(default_factory=dict)
    left_out: Counter = field(default_factory=Counter)

    def lines(self) -> list[str]:
        out = []
        for split, summary in self.splits.items():
            out.append(f"[{split}]")
            out.extend(summary.lines())
        if self.left_out:
            out.append("left out: " + ", ".join(f"{why} {n:,}" for why, n in sorted(self.left_out.items())))
        return out


def export_webdataset(build_dir: Path, out_dir: Path, spec: ResizeSpec | None = None, shard_size: int = 10_000,
                      fmt: str = "webdataset", threads: int = 4) -> ExportSummary:
    """Write the shards of every split of the build in `build_dir` into `out_dir` (resumable)."""
    build_dir, out_dir = Path(build_dir), Path(out_dir)
    if not (build_dir / "build.json").is_file():
        raise InputError(build_dir, "not a finished build (no build.json)")
    wnids = read_table(build_dir / "classes.parquet", ["wnid"]).column("wnid").to_pylist()
    summary = ExportSummary()
    for split_dir in sorted(p for p in (build_dir / "images").iterdir() if p.is_dir()):
        rows = _usable(split_dir, build_dir, summary.left_out)
        rows = rows.append_column("wnids", pa.array([[wnids[i] for i in labels]
                                                     for labels in rows.column("labels").to_pylist()],
                                                    pa.list_(pa.string())))
        summary.splits[split_dir.name] = write_shards(
            rows, _loader(spec), out_dir, split_dir.name, shard_size, fmt, META, threads,
            report=lambda line: print(line, file=sys.stderr))
    return summary


def _usable(split_dir: Path, build_dir: Path, left_out: Counter) -> pa.Table:
    """The split's rows that go into shards, sorted by image_id, with `key` and resolved `file`."""
    parts = sorted(split_dir.glob("part-*.parquet"))
    columns = ["image_id", "source", "split", "path", "status", "dedup", "labels", "confidences"]
    table = pa.concat_tables(read_table(p, columns) for p in parts).sort_by("image_id")
    reasons = [("no file", pc.is_null(table.column("path"))),
               ("not ok", pc.fill_null(pc.not_equal(table.column("status"), "ok"), False)),
               ("removed by dedup", pc.is_valid(table.column("dedup")))]
    keep = pa.array([True] * table.num_rows)
    for why, bad in reasons:
        bad = pc.and_(keep, bad)
        left_out[why] += pc.sum(bad).as_py() or 0
        keep = pc.and_(keep, pc.invert(bad))
    table = table.filter(keep)
    files = [_resolve(p, build_dir) for p in table.column("path").to_pylist()]
    present = pa.array([f is not None for f in files])
    left_out["file missing"] += table.num_rows - (pc.sum(present).as_py() or 0)
    table = table.append_column("file", pa.array(files, pa.string())).filter(present)
    keys = pa.array([sample_key(i) for i in table.column("image_id").to_pylist()], pa.string())
    return table.append_column("key", keys)


def _resolve(path: str, build_dir: Path) -> str | None:
    """The file of a manifest path: as written, else relative to the build's parent folder."""
    for candidate in (Path(path), build_dir.parent / path):
        if candidate.is_file():
            return str(candidate)
    return None


def _loader(spec: ResizeSpec | None):
    """A shard loader: the file's bytes as they are, or re-shaped by `spec`."""
    def load(row: dict[str, Any]) -> tuple[bytes, str]:
        body = Path(row["file"]).read_bytes()
        if spec is None or not spec.active:
            return body, row["file"].rsplit(".", 1)[-1].lower()
        encoded = reshape_bytes(body, spec)
        return encoded.data, EXTENSIONS.get(encoded.format, encoded.format.lower())
    return load
