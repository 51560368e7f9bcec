"""Source adapter read speed and memory on full-size files in the exact real formats.

    python benchmarks/bench_sources.py [--scale 1.0] [--repeat 3] [--only fall11,oi-images,oi-labels]
                                       [--compare-with DIR] [--block-mib N]

Generates (once, under benchmarks/_data/) fall11_urls.txt (14.2M lines, 1.1 GB), an
Open Images image list (9.0M rows) and a human image-label file (57.5M rows), then
runs every read in its own subprocess and reports rows/s and that process's peak RSS.
The fall11 adapter is compared with a bare `pyarrow.csv.read_csv` of the same file in
the same run (best of `--repeat` alternating runs, since the machine is shared), in wall
time and in CPU time (user + system, all threads), which a busy machine disturbs less.
Tables give the best run and the spread (slowest run) of wall time. `--compare-with DIR`
also runs the Open Images reads with the mlbuild package found in DIR (e.g. a `git worktree`
of an earlier commit), alternating with this tree's, for a before/after in the same run;
`--block-mib` sets the Open Images adapter's block size.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
DATA = HERE / "_data"
sys.path.insert(0, str(HERE))
import make_source_files as gen  # noqa: E402


def files(scale: float) -> dict[str, Path]:
    """The generated files at `scale`, creating those that are missing."""
    tag = f"x{scale:g}"
    paths = {"fall11": DATA / f"fall11_urls-{tag}.txt",
             "oi-images": DATA / f"oidv6-train-images-with-labels-with-rotation-{tag}.csv",
             "oi-labels": DATA / f"oidv6-train-annotations-human-imagelabels-{tag}.csv"}
    makers = {"fall11": (gen.write_fall11, gen.FALL11_LINES), "oi-images": (gen.write_oi_images, gen.OI_IMAGES),
              "oi-labels": (gen.write_oi_labels, gen.OI_LABELS)}
    for key, path in paths.items():
        if not path.exists():
            write, rows = makers[key]
            start = time.perf_counter()
            write(path, int(rows * scale))
            print(f"generated {path.name}: {path.stat().st_size:,} bytes in {time.perf_counter() - start:.1f} s",
                  flush=True)
    return paths


def child(kind: str, path: Path, block_mib: float | None) -> None:
    """Run one read in this process; print rows, seconds and peak RSS as JSON."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    from mlbuild.sources.imagenet import ImageNetUrls, ImageNetUrlsConfig
    from mlbuild.sources.openimages import OpenImages, OpenImagesConfig
    from mlbuild.sources.textio import CSV_BLOCK_BYTES
    oi_block = {} if block_mib is None else {"block_bytes": int(block_mib * (1 << 20))}
    base_rss = peak_rss_mb()
    cpu_start, start = cpu_seconds(), time.perf_counter()
    if kind == "bare-read_csv":
        rows = pacsv.read_csv(path, pacsv.ReadOptions(column_names=["id", "url"]),
                              pacsv.ParseOptions(delimiter="\t", quote_char=False,
                                                 invalid_row_handler=lambda row: "skip")).num_rows
    elif kind == "bare-read_csv-binary":
        rows = pacsv.read_csv(path, pacsv.ReadOptions(column_names=["id", "url"]),
                              pacsv.ParseOptions(delimiter="\t", quote_char=False,
                                                 invalid_row_handler=lambda row: "skip"),
                              pacsv.ConvertOptions(column_types={"id": pa.binary(), "url": pa.binary()})).num_rows
    elif kind == "bare-open_csv-stream":
        rows = sum(b.num_rows for b in pacsv.open_csv(path, pacsv.ReadOptions(block_size=CSV_BLOCK_BYTES)))
    else:
        adapter = {"fall11-images": lambda: ImageNetUrls(ImageNetUrlsConfig(path)).images(),
                   "fall11-labels": lambda: ImageNetUrls(ImageNetUrlsConfig(path)).labels(),
                   "oi-images": lambda: OpenImages(OpenImagesConfig(image_lists=[path], **oi_block)).images(),
                   "oi-labels": lambda: OpenImages(OpenImagesConfig(label_files=[path], **oi_block)).labels()}[kind]
        rows = sum(b.num_rows for b in adapter())
    seconds, cpu = time.perf_counter() - start, cpu_seconds() - cpu_start
    print(json.dumps({"rows": rows, "seconds": seconds, "cpu_seconds": cpu, "peak_rss_mb": peak_rss_mb(),
                      "import_rss_mb": base_rss}))


def cpu_seconds() -> float:
    """User + system CPU time of this process, all threads (robust to a busy shared machine)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def peak_rss_mb() -> float:
    """This process's peak RSS (VmHWM: unlike ru_maxrss it does not inherit the parent's peak over fork)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def measure(kind: str, path: Path, other: Path | None = None, block_mib: float | None = None) -> dict:
    """One read in a fresh subprocess (importing mlbuild from `other` if given)."""
    env = {**os.environ, "MLBUILD_PROGRESS": "0"}
    if other is not None:
        env["PYTHONPATH"] = os.pathsep.join([str(other), env.get("PYTHONPATH", "")])
    block = [] if block_mib is None else ["--block-mib", str(block_mib)]
    out = subprocess.run([sys.executable, __file__, "--child", kind, str(path), *block], check=True,
                         capture_output=True, text=True, env=env)
    return json.loads(out.stdout.strip().splitlines()[-1])


def best(kinds: list[str], path: Path, repeat: int, other: Path | None = None,
         block_mib: float | None = None) -> dict[str, dict]:
    """Best (fastest) of `repeat` alternating runs of each kind, with the slowest wall time and largest RSS.

    A kind ending in " (other)" runs with the mlbuild package of `other`.
    """
    results: dict[str, dict] = {}
    for _ in range(repeat):
        for kind in kinds:
            r = measure(kind.removesuffix(" (other)"), path, other if kind.endswith(" (other)") else None, block_mib)
            prev = results.get(kind, r)
            slowest, rss = max(prev.get("slowest", 0), r["seconds"]), max(prev["peak_rss_mb"], r["peak_rss_mb"])
            results[kind] = {**(r if r["seconds"] <= prev["seconds"] else prev), "slowest": slowest,
                             "max_rss_mb": rss, "runs": prev.get("runs", 0) + 1 if kind in results else 1}
    return results


def report(kind: str, path: Path, r: dict) -> str:
    """One markdown table row."""
    return (f"| {kind} | {path.name} | {r['rows']:,} | {r['seconds']:.2f} | {r['slowest']:.2f} | "
            f"{r['cpu_seconds']:.2f} | {r['rows'] / r['seconds']:,.0f} | "
            f"{r['max_rss_mb']:,.0f} ({r['import_rss_mb']:,.0f}) |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0, help="fraction of the full-size row counts")
    parser.add_argument("--repeat", type=int, default=3, help="alternating runs per read; the best is kept")
    parser.add_argument("--only", default="fall11,oi-images,oi-labels")
    parser.add_argument("--compare-with", type=Path, metavar="DIR",
                        help="also run the Open Images reads with the mlbuild package in DIR")
    parser.add_argument("--block-mib", type=float, help="Open Images adapter block size in MiB")
    parser.add_argument("--child", nargs=2, metavar=("KIND", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], Path(args.child[1]), args.block_mib)
        return
    paths = files(args.scale)
    print(f"load average at start: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    print("| read | file | rows | best wall s | slowest wall s | CPU s (best run) | rows/s (best wall) | "
          "peak RSS MB, largest run (after imports) |\n|---|---|---:|---:|---:|---:|---:|---:|")
    wanted = args.only.split(",")
    if "fall11" in wanted:
        kinds = ["bare-read_csv", "bare-read_csv-binary", "fall11-images", "fall11-labels"]
        r = best(kinds, paths["fall11"], args.repeat)
        for kind in kinds:
            print(report(kind, paths["fall11"], r[kind]), flush=True)
        for unit in ("seconds", "cpu_seconds"):
            base = r["bare-read_csv"][unit]
            print(f"fall11 {unit}: images / bare read_csv = {r['fall11-images'][unit] / base:.2f}x, "
                  f"labels = {r['fall11-labels'][unit] / base:.2f}x "
                  f"(images / binary read_csv: {r['fall11-images'][unit] / r['bare-read_csv-binary'][unit]:.2f}x)")
    for key in ("oi-images", "oi-labels"):
        if key in wanted:
            kinds = ["bare-open_csv-stream", key] + ([f"{key} (other)"] if args.compare_with else [])
            r = best(kinds, paths[key], args.repeat, args.compare_with, args.block_mib)
            for kind in kinds:
                print(report(kind, paths[key], r[kind]), flush=True)
            bare = r['bare-open_csv-stream']
            print(f"{key} / bare open_csv stream: wall {r[key]['seconds'] / bare['seconds']:.2f}x, "
                  f"CPU {r[key]['cpu_seconds'] / bare['cpu_seconds']:.2f}x")
            if args.compare_with:
                other = r[f"{key} (other)"]
                print(f"{key} this tree / other: wall {r[key]['seconds'] / other['seconds']:.2f}x, "
                      f"CPU {r[key]['cpu_seconds'] / other['cpu_seconds']:.2f}x")

if __name__ == "__main__":
    main()
