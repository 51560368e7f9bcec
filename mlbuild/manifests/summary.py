"""A readable summary of a built manifest folder (what `mlbuild inspect DIR` prints).

`load_build` and `SplitStats` are shared with `mlbuild report`, which shows the same numbers as plots.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from mlbuild._util.parquet import read_table
from mlbuild.errors import InputError

SPLIT_COLUMNS = ["labels", "direct_labels", "dedup"]


@dataclass
class SplitStats:
    """One split, accumulated part by part: images, rows removed by dedup, labels per image (histograms)."""

    images: int = 0
    removed: int = 0
    labels: np.ndarray = field(default_factory=lambda: np.zeros(1, np.int64))   # images per label count
    direct: np.ndarray = field(default_factory=lambda: np.zeros(1, np.int64))

    def add(self, table: pa.Table) -> None:
        """Count one part's rows (needs SPLIT_COLUMNS)."""
        self.images += table.num_rows
        self.removed += table.num_rows - table.column("dedup").null_count
        self.labels = _add(self.labels, _lengths(table.column("labels")))
        self.direct = _add(self.direct, _lengths(table.column("direct_labels")))

    def line(self, split: str) -> str:
        """The split's line in `inspect`."""
        return (f"  {split:<10} {self.images:>12,} images; labels/image mean {histogram_mean(self.labels):.2f} "
                f"(direct {histogram_mean(self.direct):.2f}), max {len(self.labels) - 1}; unlabeled "
                f"{int(self.labels[0]):,}; removed by dedup {self.removed:,}")


def load_build(out_dir: Path) -> tuple[dict[str, Any], pa.Table]:
    """build.json and classes.parquet of a finished build."""
    out_dir = Path(out_dir)
    if not (out_dir / "build.json").is_file():
        raise InputError(out_dir, "no build.json: not a finished mlbuild build (an interrupted one is in .partial/)")
    return json.loads((out_dir / "build.json").read_text()), read_table(out_dir / "classes.parquet")


def image_parts(out_dir: Path) -> list[tuple[str, Path]]:
    """(split, part file) of every image part, in split and part order."""
    return [(p.parent.name, p) for p in sorted(Path(out_dir).glob("images/*/part-*.parquet"))]


def summarize(out_dir: Path, top: int = 10) -> str:
    """Sources, splits, images, classes, labels per image, depth histogram, top and bottom classes."""
    out_dir = Path(out_dir)
    record, classes = load_build(out_dir)
    lines = [f"build: {out_dir}  (mlbuild {record['mlbuild']})", "", "sources:"]
    for name, counts in record["counts"]["sources"].items():
        lines.append(f"  {name:<20} {counts['images']:>12,} images {counts['positives']:>12,} positives "
                     f"{counts['negatives']:>12,} verified negatives")
    lines += ["", "splits:"]
    splits: dict[str, SplitStats] = {}
    for split, path in image_parts(out_dir):
        splits.setdefault(split, SplitStats()).add(read_table(path, SPLIT_COLUMNS))
    lines += [stats.line(split) for split, stats in splits.items()]
    lines += _hashing(record["counts"].get("hashing", {}))
    depth = classes.column("depth").to_numpy()
    lines += ["", f"classes: {classes.num_rows:,}, hierarchy edges: {record['counts']['edges']:,}, "
              f"roots: {int(sum(len(p) == 0 for p in classes.column('parents').to_pylist())):,}",
              "depth histogram: " + ", ".join(f"{d}:{n}" for d, n in enumerate(np.bincount(depth)) if n)]
    lines += _extremes(classes, top)
    if record["warnings"]:
        lines += ["", f"warnings ({len(record['warnings'])}):"] + [f"  {w}" for w in record["warnings"][:top]]
    return "\n".join(lines)


def _hashing(hashed: dict) -> list[str]:
    """Images hashed for near-duplicate search and why the others were not, per source and split."""
    if not hashed:
        return []
    lines = ["", "hashed for near-duplicate search (not hashed: reason count):"]
    for source, splits in sorted(hashed.items()):
        for split, reasons in sorted(splits.items()):
            missing = ", ".join(f"{r} {n:,}" for r, n in sorted(reasons.items()) if r != "hashed")
            lines.append(f"  {source:<20} {split:<10} {reasons.get('hashed', 0):>12,} hashed"
                         + (f"; not hashed: {missing}" if missing else ""))
    return lines


def _extremes(classes, top: int) -> list[str]:
    """Most and least frequent classes on the training split."""
    if "positives_train" not in classes.column_names:
        return []
    counts = classes.column("positives_train").to_numpy()
    names, wnids = classes.column("name").to_pylist(), classes.column("wnid").to_pylist()
    order = np.argsort(-counts, kind="stable")
    fmt = lambda i: f"  {wnids[i]} {names[i]:<30} {counts[i]:>12,}"  # noqa: E731
    nonzero = [i for i in order if counts[i] > 0]
    return (["", f"top {top} classes (train positives):"] + [fmt(i) for i in nonzero[:top]]
            + ["", f"bottom {top} classes with positives:"] + [fmt(i) for i in nonzero[-top:][::-1]])


def _lengths(lists: pa.ChunkedArray) -> np.ndarray:
    """Histogram of list lengths, from the offsets (no copy of the values)."""
    lengths = [np.diff(chunk.offsets.to_numpy()) for chunk in lists.chunks]
    return np.bincount(np.concatenate(lengths)) if lengths else np.zeros(1, np.int64)


def _add(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    out = np.zeros(max(len(a), len(b)), np.int64)
    out[:len(a)] += a
    out[:len(b)] += b
    return out


def histogram_mean(hist: np.ndarray) -> float:
    """Mean value of a histogram given as counts per value 0..n."""
    return float((hist * np.arange(len(hist))).sum() / max(hist.sum(), 1))
