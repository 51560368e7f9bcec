"""Hashing throughput per core on realistic 500x375 JPEGs, side by side with imagehash, and
fast-mode bit drift.

Files: random 4:3 crops of real photographs (benchmarks/photos.py) resized to 500x375 and
saved at JPEG quality 75-95, written once to benchmarks/_data/jpeg500x375/ and read from the
page cache. Each method runs over the same files in one process; rates are images per CPU
second of that process (best of 2 passes), so other load on the machine does not skew them.

    /work/venv/bin/python benchmarks/bench_hash.py [--count 2000]
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import imagehash
import numpy as np
from photos import DATA, realistic_jpegs
from PIL import Image

from mlbuild._util.parquet import read_table
from mlbuild.cli import main as cli
from mlbuild.images.hash_keys import hash_sources, key_sources
from mlbuild.images.neardup import popcount


def timed(run: Callable[[], np.ndarray], passes: int = 2) -> tuple[np.ndarray, float]:
    """Result and best CPU time (all threads of this process) of `passes` runs: CPU time
    rather than wall time, so that other load on the machine does not count."""
    best, result = float("inf"), None
    for _ in range(passes):
        start = time.process_time()
        result = run()
        best = min(best, time.process_time() - start)
    return result, best


def imagehash_baseline(paths: list[Path], kind: str) -> np.ndarray:
    """The reference: imagehash on every file, as a uint64 array."""
    fn = getattr(imagehash, kind)
    return np.array([int(str(fn(Image.open(p))), 16) for p in paths], np.uint64)


def drift(a: np.ndarray, b: np.ndarray) -> str:
    d = popcount(a ^ b)
    return (f"mean {d.mean():.3f} bits, max {d.max()}, identical {np.mean(d == 0):.1%}, "
            f"<=2 bits {np.mean(d <= 2):.1%}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--keys-only", action="store_true", help="only the search-keys table")
    args = parser.parse_args()
    paths = realistic_jpegs(args.count, DATA / "jpeg500x375")
    for p in paths:
        p.read_bytes()  # warm the page cache: measure decoding and hashing, not the disk
    print(f"{len(paths)} JPEGs 500x375, mean {np.mean([p.stat().st_size for p in paths]) / 1024:.0f} KiB; "
          f"one process, images per CPU-second (best of 2)\n")
    if not args.keys_only:
        hash_kinds(paths)
    keys_cost(paths)
    if not args.keys_only:
        end_to_end(paths)
    return 0


def hash_kinds(paths: list[Path]) -> None:
    """Exact and fast hashes against imagehash."""
    print("| method | images/s per core | vs imagehash | bits vs exact |")
    print("|---|---|---|---|")
    for kind in ("phash", "dhash"):
        ref, t_ref = timed(lambda kind=kind: imagehash_baseline(paths, kind))
        exact, t_exact = timed(lambda kind=kind: hash_sources(paths, kind).plain)
        fast, t_fast = timed(lambda kind=kind: hash_sources(paths, kind, fast=True).plain)
        assert (exact == ref).all(), f"exact {kind} differs from imagehash"
        n = len(paths)
        print(f"| imagehash.{kind} | {n / t_ref:,.0f} | 1.00x | (reference) |")
        print(f"| mlbuild {kind} exact | {n / t_exact:,.0f} | {t_ref / t_exact:.2f}x | identical on all {n} |")
        print(f"| mlbuild {kind} --fast | {n / t_fast:,.0f} | {t_ref / t_fast:.2f}x | {drift(exact, fast)} |")


def keys_cost(paths: list[Path]) -> None:
    """What search keys cost per training and per evaluation image."""
    print("\nSearch keys (docs/dedup.md), pHash exact, images per CPU-second: what a training image costs "
          "(plain + trimmed when bordered) and an evaluation image (+ mirrored, five centre crops)\n")
    print("| keys | images/s per core | keys per image | vs plain hash only |")
    print("|---|---|---|---|")
    _, t_plain = timed(lambda: key_sources(paths, "phash", role="plain").hash)
    for role in ("plain", "train", "eval"):
        keys, t_keys = timed(lambda role=role: key_sources(paths, "phash", role=role).hash)
        print(f"| {role} | {len(paths) / t_keys:,.0f} | {len(keys) / len(paths):.2f} | {t_plain / t_keys:.2f}x |")


def end_to_end(paths: list[Path]) -> None:
    """The hash command on two processes."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "hashes.parquet"
        start = time.perf_counter()
        cli(["hash", str(paths[0].parent), "--out", str(out), "--fast", "--workers", "2"])
        wall = time.perf_counter() - start
        assert read_table(out)["phash"].null_count == 0
    print(f"\n`mlbuild hash --fast --workers 2` end to end (listing, 2 processes, Parquet): "
          f"{len(paths) / wall:,.0f} images/s wall-clock")


if __name__ == "__main__":
    sys.exit(main())
