"""`mlbuild export tencent` of the benchmark build, against a row-by-row Python exporter.

Usage: python benchmarks/bench_export.py [--scale 0.1] [--workers 2] [--baseline-parts N]

Builds (once, under benchmarks/_data/build-<scale>/) the inputs and the build of
benchmarks/bench_build.py at the given scale (14.2M fall11 rows + 9M Open Images images at
scale 1.0), then times `mlbuild export tencent BUILD --out EXPORT` in its own process (wall
time and peak PSS of the process tree) and a straightforward exporter on the same parts in the
same run (pyarrow `to_pylist`, one f-string per image: benchmarks' baseline for the ratio).
The baseline runs on the first --baseline-parts parts of the train split (all by default) and
its output must be byte-identical to mlbuild's for those parts.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_build  # noqa: E402  (the benchmark build's inputs and process measurement)

HERE = Path(__file__).resolve().parent


def ensure_build(folder: Path, workers: int) -> Path:
    """The benchmark build at this scale (built once; reused while its build.json is there)."""
    out = folder / "out-mlbuild"
    if not (out / "build.json").is_file():
        wall, rss = bench_build.run_mlbuild(folder, workers)
        print(f"build: {wall:.1f} s wall, peak {rss:.2f} GiB")
    return out


def baseline_export(parts: list[Path], dest: Path) -> tuple[float, int]:
    """Row-by-row export of the parts' kept images to one file; (seconds, images written)."""
    start, written, text = time.perf_counter(), 0, {}
    with open(dest, "w", encoding="utf-8") as fh:
        for part in parts:
            table = pq.ParquetFile(part).read(columns=["url", "labels", "confidences", "dedup"])
            for row in table.to_pylist():
                if row["dedup"] is not None or row["url"] is None or not row["labels"]:
                    continue
                tokens = []
                for idx, conf in zip(row["labels"], row["confidences"]):
                    if conf not in text:
                        text[conf] = np.format_float_positional(np.float32(conf), trim="-")
                    tokens.append(f"{idx}:{text[conf]}")
                fh.write(row["url"] + "\t" + "\t".join(tokens) + "\n")
                written += 1
    return time.perf_counter() - start, written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=0.1)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--baseline-parts", type=int, default=0, help="0 = every train part")
    args = parser.parse_args()
    folder = HERE / "_data" / f"build-{args.scale:g}"
    bench_build.generate(folder, args.scale)
    out = ensure_build(folder, args.workers)
    export = folder / "export-tencent"
    wall, rss = bench_build.timed([sys.executable, "-m", "mlbuild", "export", "tencent", str(out),
                                   "--out", str(export)])
    lines = sum(1 for _ in open(export / "train_urls.txt", "rb"))
    size = (export / "train_urls.txt").stat().st_size
    images = sum(pq.ParquetFile(p).metadata.num_rows for p in (out / "images").rglob("part-*.parquet"))
    print(f"mlbuild export tencent, scale {args.scale:g}: {wall:.1f} s wall, peak {rss:.2f} GiB; "
          f"{images:,} images in the build, {lines:,} lines ({size / 2**30:.2f} GiB) in train_urls.txt")
    parts = sorted((out / "images" / "train").glob("part-*.parquet"))
    parts = parts[:args.baseline_parts] if args.baseline_parts else parts
    seconds, written = baseline_export(parts, folder / "baseline_train_urls.txt")
    ours = (export / "train_urls.txt").open("rb").read(
        (folder / "baseline_train_urls.txt").stat().st_size)
    same = ours == (folder / "baseline_train_urls.txt").read_bytes()
    share = sum(pq.ParquetFile(p).metadata.num_rows for p in parts) / max(
        sum(pq.ParquetFile(p).metadata.num_rows for p in (out / "images" / "train").glob("part-*.parquet")), 1)
    print(f"row-by-row baseline on {len(parts)} train parts ({share:.0%} of train): {seconds:.1f} s, "
          f"{written:,} lines; byte-identical to mlbuild's: {same}")
    start, _ = bench_build.timed([sys.executable, "-m", "mlbuild", "export", "--help"])
    print(f"speed-up vs the baseline (train split, same parts): {seconds / (wall * share):.1f}x with mlbuild's "
          f"process start and dictionary, {seconds / ((wall - start) * share):.1f}x without its start "
          f"({start:.1f} s for `mlbuild export --help`); mlbuild's time prorated to those parts")
    if args.scale == 1.0:
        print(f"full-scale target (under 60 s): {'met' if wall < 60 else 'NOT met'}")


if __name__ == "__main__":
    main()
