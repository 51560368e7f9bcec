"""The training products and `mlbuild report` on the benchmark build (bench_build.py's generated inputs).

Usage: flock /work/tmp/bench.lock python benchmarks/bench_report.py [--scale 0.1] [--workers 2]

Builds the inputs of bench_build.py (generated once under benchmarks/_data/build-<scale>/) twice:
with the default `[stats] sampling = "none"` (the build writes cooccurrence.parquet only) and with
"sqrt" (it also rewrites every image part with `sample_weight`); build.json's `statistics` timing is
that stage. Then times `mlbuild report` against `mlbuild inspect` on the same build (the baseline:
the text summary, reading the same split columns).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_build import HERE, generate, timed  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=0.1)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    folder = HERE / "_data" / f"build-{args.scale:g}"
    generate(folder, args.scale)
    mlbuild = [sys.executable, "-m", "mlbuild"]
    for sampling in ("none", "sqrt"):
        config = folder / f"build-{sampling}.toml"
        config.write_text((folder / "build.toml").read_text() + f'\n[stats]\nsampling = "{sampling}"\n')
        out = folder / "out-report"
        wall, peak = timed([*mlbuild, "build", str(config), "--out", str(out), "--no-resume", "--workers",
                            str(args.workers)])
        record = json.loads((out / "build.json").read_text())
        timings = record["timings"]
        print(f"build (sampling={sampling}) scale {args.scale:g}: {wall:.1f} s wall, peak {peak:.2f} GiB; "
              f"{sum(record['counts']['images'].values()):,} images, {record['counts']['classes']:,} classes")
        print("  stages: " + ", ".join(f"{k} {v:.1f}" for k, v in timings.items()))
        pairs = pq.read_metadata(out / "cooccurrence.parquet").num_rows
        print(f"  statistics stage: {timings['statistics']:.1f} s = {timings['statistics'] / wall:.1%} of the "
              f"build ({pairs:,} co-occurring pairs)")
    inspect, inspect_peak = timed(["sh", "-c", 'exec "$0" "$@" >/dev/null', *mlbuild, "inspect", str(out)])
    report, report_peak = timed([*mlbuild, "report", str(out), "--out", str(folder / "report.html")])
    size = (folder / "report.html").stat().st_size
    print(f"inspect: {inspect:.1f} s, peak {inspect_peak:.2f} GiB (baseline)")
    print(f"report:  {report:.1f} s, peak {report_peak:.2f} GiB, {size / 2**10:.0f} KiB of HTML; "
          f"{report / inspect:.2f}x the time of inspect")


if __name__ == "__main__":
    main()
