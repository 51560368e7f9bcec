"""Engines: wall time of one build with the local engine (1 and 2 processes) and the Dask
engine (LocalCluster of 1 and 2 worker processes, 1 thread each), and where the time goes.

Two workloads, generated once into benchmarks/_data/engines/ in the real formats:
- fall11: a `fall11_urls.txt`-format TAB list, LF, with the real file's defects (non-UTF-8
  URLs, lines without a TAB, a second TAB), 2,000,000 lines over 1,000 real fall11 WNIDs
  (drawn from ../shared/data/imagenet21k/imagenet22k_synsets.txt; from the shipped WordNet
  snapshot's nouns if that file is absent). One label per image: the propagation fast path.
- openimages: an Open Images V6 image list (12 quoted columns) and human image-level labels
  (Poisson(6.4) per image, 1/3 verified present, 2/3 verified absent) for 1,000,000 images,
  over 2,000 real MIDs that the shipped mapping (wordnet_maps/openimages_wordnet.csv) maps
  to WordNet, with a class-descriptions file. Negatives are pushed down to descendants: the
  general propagation path, as for the real 9M-image Open Images.
Partitions of 100,000 images (20 and 10 tasks).

As a control, the same round also times a pure-CPU job (numpy sorts) in 1 and in 2 processes:
its ratio is the most that 2 workers can gain on this machine at that moment.

Every run builds from scratch (resume off) into benchmarks/_work/engines/<run>/ and must
write Parquet files byte-identical to local-1's. Each configuration is built `--repeat`
times, round-robin, and its fastest build is reported (the machine may be shared; the load
average is printed). Ratios are against local-1, measured in the same run. Dask cluster
start-up is timed apart from the build.

    /work/venv/bin/python benchmarks/bench_engines.py [--workload fall11 openimages] [--repeat 3]
        [--lines 2000000] [--oi-images 1000000] [--partition 100000]
"""
from __future__ import annotations

import argparse
import csv
import io
import os
import resource
import shutil
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv  # noqa: F401  (pa.csv)
from make_source_files import (
    CHUNK,
    OI_IMAGE_HEADER,
    OI_IMAGES,
    OI_LABELS,
    _atomic,
    _image_ids,
    _write_joined,
    fall11_chunk,
    oi_image_chunk,
    oi_label_chunk,
)

from mlbuild._util.resources import wordnet_map
from mlbuild.classes import wordnet
from mlbuild.config import config_from_dict
from mlbuild.engines.local import LocalEngine
from mlbuild.pipeline import build

HERE = Path(__file__).resolve().parent
DATA, WORK = HERE / "_data" / "engines", HERE / "_work" / "engines"
SYNSETS = HERE.parent.parent / "shared" / "data" / "imagenet21k" / "imagenet22k_synsets.txt"
RUNS = (("local", 1), ("local", 2), ("dask", 1), ("dask", 2))


def fall11_offsets(n: int, seed: int = 0) -> tuple[np.ndarray, str]:
    """n WordNet offsets of real fall11 WNIDs (or snapshot nouns), and where they came from."""
    rng = np.random.default_rng(seed)
    if SYNSETS.is_file():
        wnids = SYNSETS.read_text().split()
        source = str(SYNSETS)
    else:
        wn = wordnet.load()
        wnids = [wn.wnid(i) for i in range(len(wn))]
        source = "the shipped WordNet 3.0 snapshot (fall11 list absent)"
    chosen = sorted(rng.choice(len(wnids), n, replace=False).tolist())
    return np.array([int(wnids[i][1:]) for i in chosen]), source


def fall11_source(lines: int, classes: int = 1000) -> dict:
    """The fall11-format list (written once per size), as a [[source]] table."""
    path = DATA / f"fall11_urls-{lines}.txt"
    offsets, source = fall11_offsets(classes)
    print(f"fall11: {path} ({lines:,} lines over {classes:,} WNIDs from {source})")
    if not path.is_file():
        rng = np.random.default_rng(1)
        with _atomic(path) as f:
            for start in range(0, lines, CHUNK):
                _write_joined(f, fall11_chunk(rng, offsets, min(CHUNK, lines - start)))
    return {"kind": "imagenet_urls", "name": "imagenet21k", "urls": str(path)}


def openimages_source(images: int, classes: int = 2000) -> dict:
    """An Open Images image list, human labels and descriptions (written once per size)."""
    folder = DATA / f"openimages-{images}"
    table = pa.csv.read_csv(wordnet_map("openimages_wordnet.csv"))
    table = table.filter(pc.invert(pc.equal(pc.fill_null(table["wnid"], ""), "")))
    rng = np.random.default_rng(3)
    chosen = table.take(pa.array(np.sort(rng.choice(table.num_rows, classes, replace=False))))
    print(f"openimages: {folder} ({images:,} images, {classes:,} mapped MIDs of {table.num_rows:,})")
    if not (folder / "labels.csv").is_file():
        with _atomic(folder / "classes.csv") as f:
            text = io.StringIO()
            csv.writer(text, lineterminator="\n").writerows(
                [("LabelName", "DisplayName"), *zip(chosen["mid"].to_pylist(), chosen["display_name"].to_pylist())])
            f.write(text.getvalue().encode())
        with _atomic(folder / "images.csv") as fi, _atomic(folder / "labels.csv") as fl:
            fi.write(OI_IMAGE_HEADER.encode())
            fl.write(b"ImageID,Source,LabelName,Confidence\n")
            for start in range(0, images, CHUNK // 8):
                ids = _image_ids(rng, min(CHUNK // 8, images - start))
                _write_joined(fi, oi_image_chunk(rng, ids))
                _write_joined(fl, oi_label_chunk(rng, ids, chosen["mid"].combine_chunks(), OI_LABELS / OI_IMAGES))
    return {"kind": "openimages", "image_lists": [str(folder / "images.csv")],
            "label_files": [str(folder / "labels.csv")], "descriptions": str(folder / "classes.csv")}


def run(source: dict, partition: int, engine_name: str, workers: int) -> tuple[dict, float, Path]:
    """One build from scratch: (timings, wall seconds, output folder). Timings: dask start-up,
    the build's stages, and CPU seconds of the driver (with an in-process Dask scheduler) and
    of the worker processes."""
    config = config_from_dict({"source": [source], "build": {"partition_images": partition, "workers": workers}})
    out = WORK / f"{source['kind']}-{engine_name}-{workers}"
    shutil.rmtree(out, ignore_errors=True)
    start = time.perf_counter()
    if engine_name == "local":
        engine, startup = LocalEngine(workers), 0.0
        worker_cpu = _children_cpu
    else:
        from mlbuild.engines.distributed import DaskEngine
        engine = DaskEngine(workers=workers)
        startup = time.perf_counter() - start
        worker_cpu = lambda: sum(engine.client.run(_own_cpu).values())  # noqa: E731
    try:
        began, driver, workers_before = time.perf_counter(), time.process_time(), worker_cpu()
        result = build(config, out, resume=False, engine=engine)
        wall = time.perf_counter() - began
        cpu = {"driver CPU": time.process_time() - driver, "worker CPU": worker_cpu() - workers_before}
    finally:
        engine.close()
    return {"start-up": round(startup, 2), **result.timings, **cpu}, wall, out


def _own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _sorts(seed: int) -> None:
    rng = np.random.default_rng(seed)
    for _ in range(4):
        np.sort(rng.integers(0, 2**62, 4_000_000))


def cpu_ceiling() -> float:
    """Speed-up of 4 units of pure-CPU work in 2 processes over 1 (the machine's own limit)."""
    with ProcessPoolExecutor(2) as pool:
        list(pool.map(_sorts, range(2)))  # start the processes first
        start = time.perf_counter()
        list(pool.map(_sorts, range(4)))
        two = time.perf_counter() - start
    start = time.perf_counter()
    for seed in range(4):
        _sorts(seed)
    return (time.perf_counter() - start) / two


def parquet_bytes(out: Path) -> dict[str, bytes]:
    return {p.relative_to(out).as_posix(): p.read_bytes() for p in sorted(out.rglob("*.parquet"))}


def compare(source: dict, partition: int, repeat: int) -> bool:
    """Build with every engine `repeat` times, round-robin; print the fastest of each and ratios.
    False if any output differs from local-1's."""
    best: dict[str, tuple[float, dict]] = {}
    reference, ceilings = None, []
    for _ in range(repeat):
        ceilings.append(cpu_ceiling())
        print(f"control: pure-CPU work, 2 processes vs 1: {ceilings[-1]:.2f}x", flush=True)
        for engine_name, workers in RUNS:
            name = f"{engine_name}-{workers}"
            timings, wall, out = run(source, partition, engine_name, workers)
            files = parquet_bytes(out)
            reference = reference or files
            if files != reference:
                print(f"{name}: output differs from local-1", file=sys.stderr)
                return False
            print(f"{name}: {wall:.2f} s {timings} (load average {os.getloadavg()[0]:.1f})", flush=True)
            if name not in best or wall < best[name][0]:
                best[name] = (wall, timings)
    rows = [(name, wall, timings) for name, (wall, timings) in best.items()]
    stages = [k for k in rows[0][2] if k not in ("start-up", "driver CPU", "worker CPU")]
    base_wall, base_part = rows[0][1], rows[0][2]["propagate+write"]
    print(f"\n{source['kind']}: fastest of {repeat}; {len(reference)} Parquet files, byte-identical in every run; "
          f"control (pure CPU, 2 processes vs 1): {' / '.join(f'{c:.2f}x' for c in ceilings)}")
    print("| run | start-up s | " + " | ".join(f"{s} s" for s in stages)
          + " | build wall s | build vs local-1 | propagate+write vs local-1 | CPU s driver + workers |")
    print("|---" * (len(stages) + 6) + "|")
    for name, wall, t in rows:
        print(f"| {name} | {t['start-up']:.2f} | " + " | ".join(f"{t[s]:.2f}" for s in stages)
              + f" | {wall:.2f} | {base_wall / wall:.2f}x | {base_part / t['propagate+write']:.2f}x"
              + f" | {t['driver CPU']:.1f} + {t['worker CPU']:.1f} |")
    print(flush=True)
    return True


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workload", nargs="+", choices=("fall11", "openimages"), default=["fall11", "openimages"])
    parser.add_argument("--lines", type=int, default=2_000_000, help="fall11 lines")
    parser.add_argument("--oi-images", type=int, default=1_000_000, help="Open Images images")
    parser.add_argument("--partition", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    makers = {"fall11": lambda: fall11_source(args.lines), "openimages": lambda: openimages_source(args.oi_images)}
    return 0 if all(compare(makers[w](), args.partition, args.repeat) for w in args.workload) else 1


if __name__ == "__main__":
    sys.exit(main())
