"""A readable summary of a built manifest folder (what `mlbuild inspect DIR` prints)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow.compute as pc
import pyarrow.dataset as ds

from mlbuild._util.parquet import read_table
from mlbuild.errors import InputError


def summarize(out_dir: Path, top: int = 10) -> str:
    """Sources, splits, images, classes, labels per image, depth histogram, top and bottom classes."""
    out_dir = Path(out_dir)
    if not (out_dir / "build.json").is_file():
        raise InputError(out_dir, "no build.json: not a finished mlbuild build (an interrupted one is in .partial/)")
    record = json.loads((out_dir / "build.json").read_text())
    classes = read_table(out_dir / "classes.parquet")
    lines = [f"build: {out_dir}  (mlbuild {record['mlbuild']})", "", "sources:"]
    for name, counts in record["counts"]["sources"].items():
        lines.append(f"  {name:<20} {counts['images']:>12,} images {counts['positives']:>12,} positives "
                     f"{counts['negatives']:>12,} verified negatives")
    lines += ["", "splits:"]
    for split in sorted(p.name for p in (out_dir / "images").iterdir()):
        labels = ds.dataset(out_dir / "images" / split).to_table(columns=["labels", "direct_labels", "dedup"])
        per_image = pc.list_value_length(labels.column("labels")).to_numpy(zero_copy_only=False)
        direct = pc.list_value_length(labels.column("direct_labels")).to_numpy(zero_copy_only=False)
        removed = labels.num_rows - int(pc.sum(pc.is_null(labels.column("dedup"))).as_py() or 0)
        lines.append(f"  {split:<10} {labels.num_rows:>12,} images; labels/image mean {per_image.mean():.2f} "
                     f"(direct {direct.mean():.2f}), max {per_image.max(initial=0)}; unlabeled "
                     f"{int((per_image == 0).sum()):,}; removed by dedup {removed:,}")
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
