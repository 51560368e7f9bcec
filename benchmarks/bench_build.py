"""Full-scale label build: 14.2M fall11 rows + 9M Open Images images with 57.5M human labels.

Usage: python benchmarks/bench_build.py [--scale 1.0] [--baseline-scale 0.1] [--workers 2]
       [--checkout OLDER_CHECKOUT --repeat N --skip-baseline]

Generates (once, under benchmarks/_data/build-<scale>/) consistent inputs in the real
formats: a fall11_urls.txt over the real ImageNet-21k WNIDs (from ../shared/data when
present, else 21,841 WordNet nouns), an Open Images image list and a human-label file
over the same ImageIDs, with 19,994 MIDs mapped by a class map to WordNet (60% to
ImageNet-21k classes, 25% to other nouns, 15% unmapped). Then it runs `mlbuild build`
(images not downloaded) and a straightforward pandas implementation of the same steps
(read, map classes, join labels to images, explode ancestors, dedupe, group, write),
each in its own process, and prints wall time, peak RSS and the ratio. The pandas
baseline runs at --baseline-scale (the full scale needs more memory than the machine
has), and mlbuild is measured at that scale too, in the same run.
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

sys.path.insert(0, str(Path(__file__).resolve().parent))
import make_source_files as gen  # noqa: E402  (the vectorized real-format row generators)

HERE = Path(__file__).resolve().parent
SHARED = HERE.parent.parent / "shared" / "data" / "imagenet21k" / "imagenet22k_synsets.txt"


def imagenet_wnids() -> np.ndarray:
    """WordNet offsets of the ImageNet-21k classes (or 21,841 WordNet nouns when the list is absent)."""
    if SHARED.is_file():
        return np.array([int(w[1:]) for w in SHARED.read_text().split()])
    from mlbuild.classes import wordnet
    offsets = wordnet.load().offsets
    return np.sort(np.random.default_rng(0).choice(offsets, 21_841, replace=False))


def generate(folder: Path, scale: float) -> None:
    """Write the three inputs, the class map and the config (skipped when already there)."""
    if (folder / "build.toml").is_file():
        return
    rng = np.random.default_rng(7)
    wnids = imagenet_wnids()
    with gen._atomic(folder / "fall11_urls.txt") as f:
        lines = int(gen.FALL11_LINES * scale)
        for start in range(0, lines, gen.CHUNK):
            gen._write_joined(f, gen.fall11_chunk(rng, wnids, min(gen.CHUNK, lines - start)))
    mids = pc.binary_join_element_wise("/m/0", gen._str(np.arange(10**5, 10**5 + 19_994)), "")
    write_class_map(folder / "oi_class_map.csv", mids, wnids, rng)
    images = int(gen.OI_IMAGES * scale)
    ids = gen.hex16(np.sort(rng.choice(2**62, images, replace=False).astype(np.uint64)))
    with gen._atomic(folder / "images.csv") as fi, gen._atomic(folder / "labels.csv") as fl:
        fi.write(gen.OI_IMAGE_HEADER.encode())
        fl.write(b"ImageID,Source,LabelName,Confidence\n")
        for start in range(0, images, gen.CHUNK // 4):
            chunk = ids.slice(start, gen.CHUNK // 4)
            gen._write_joined(fi, gen.oi_image_chunk(rng, chunk))
            gen._write_joined(fl, gen.oi_label_chunk(rng, chunk, mids, gen.OI_LABELS / gen.OI_IMAGES))
    (folder / "build.toml").write_text(
        '[[source]]\nkind = "imagenet_urls"\nurls = "fall11_urls.txt"\n\n'
        '[[source]]\nkind = "openimages"\nimage_lists = ["images.csv"]\nlabel_files = ["labels.csv"]\n'
        'class_map = "oi_class_map.csv"\n')


def write_class_map(path: Path, mids: pa.Array, wnids: np.ndarray, rng: np.random.Generator) -> None:
    from mlbuild.classes import wordnet
    others = wordnet.load().offsets
    pick = rng.random(len(mids))
    target = np.where(pick < 0.6, rng.choice(wnids, len(mids)), rng.choice(others, len(mids)))
    text = [f"n{t:08d}" if p < 0.85 else "" for t, p in zip(target.tolist(), pick.tolist())]
    rows = "\n".join(f"{m},{w}" for m, w in zip(mids.to_pylist(), text))
    path.write_text("mid,wnid\n" + rows + "\n")


def tree_rss(pid: int) -> int:
    """Proportional resident bytes (PSS) of a process and all its descendants (from /proc).

    PSS splits pages shared by forked workers among them, so the sum is the tree's real use.
    A sample is taken again when the tree changed while it was read: a fork between reading
    the parent and the child would count the shared pages one and a half times.
    """
    for _ in range(20):
        before = _tree(pid)
        total = sum(_pss(p) for p in before)
        if _tree(pid) == before:
            return total
    return total


def _tree(pid: int) -> list[int]:
    """The process and its descendants, in walk order."""
    found, stack = [], [pid]
    while stack:
        p = stack.pop()
        try:
            for task in Path(f"/proc/{p}/task").iterdir():
                stack += [int(c) for c in (task / "children").read_text().split()]
        except (FileNotFoundError, ProcessLookupError):
            continue
        found.append(p)
    return found


def _pss(pid: int) -> int:
    try:
        rollup = Path(f"/proc/{pid}/smaps_rollup").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return 0
    return int(rollup.split("\nPss:")[1].split()[0]) * 1024 if "\nPss:" in rollup else 0


SAMPLE_SECONDS = 1.0  # reading smaps_rollup walks the page tables under the memory map lock:
# every 0.1 s it slowed a 7 GiB build by ~30% (measured: 124-134 s sampled vs 96-98 s unsampled)


def timed(cmd: list[str], cwd: Path | None = None, env: dict[str, str] | None = None) -> tuple[float, float]:
    """Wall seconds and peak memory (GiB, PSS) of a child process tree, sampled every SAMPLE_SECONDS."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, env=env)
    peak = 0
    while proc.poll() is None:
        peak = max(peak, tree_rss(proc.pid))
        time.sleep(SAMPLE_SECONDS)
    if proc.returncode:
        raise SystemExit(f"{cmd[:4]} failed with {proc.returncode}")
    return time.perf_counter() - start, peak / 2**30


def run_mlbuild(folder: Path, workers: int, checkout: Path | None = None) -> tuple[float, float]:
    """`mlbuild build` of this project, or of another checkout (run from it: `python -m` puts the
    working directory first on sys.path, so PYTHONPATH alone would still run this project's code)."""
    out = folder / ("out-mlbuild" if checkout is None else "out-checkout")
    if checkout is not None and out.exists():
        shutil.rmtree(out)  # the older code's own output folder, written by this script
    env = dict(os.environ, PYTHONPATH=str(checkout)) if checkout is not None else None
    return timed([sys.executable, "-m", "mlbuild", "build", str(folder / "build.toml"), "--out", str(out),
                  "--no-resume", "--workers", str(workers)], cwd=checkout, env=env)


def run_pandas(folder: Path) -> tuple[float, float]:
    return timed([sys.executable, str(HERE / "pandas_build_baseline.py"), str(folder)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--baseline-scale", type=float, default=0.1)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--skip-baseline", action="store_true")
    parser.add_argument("--checkout", type=Path, help="also build with the mlbuild of this checkout (an older "
                                                        "commit), alternating with this one")
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    full = HERE / "_data" / f"build-{args.scale:g}"
    generate(full, args.scale)
    for _ in range(args.repeat):
        wall, rss = run_mlbuild(full, args.workers)
        print(f"mlbuild  scale {args.scale:g}: {wall:7.1f} s wall, peak RSS {rss:5.2f} GiB (workers={args.workers})")
        if args.checkout:
            wall, rss = run_mlbuild(full, args.workers, args.checkout.resolve())
            print(f"checkout scale {args.scale:g}: {wall:7.1f} s wall, peak RSS {rss:5.2f} GiB ({args.checkout})")
    if args.skip_baseline:
        return
    small = HERE / "_data" / f"build-{args.baseline_scale:g}"
    generate(small, args.baseline_scale)
    ours, ours_rss = run_mlbuild(small, args.workers)
    theirs, theirs_rss = run_pandas(small)
    print(f"mlbuild  scale {args.baseline_scale:g}: {ours:7.1f} s wall, peak RSS {ours_rss:5.2f} GiB")
    print(f"pandas   scale {args.baseline_scale:g}: {theirs:7.1f} s wall, peak RSS {theirs_rss:5.2f} GiB")
    print(f"speed-up vs pandas at scale {args.baseline_scale:g}: {theirs / ours:.1f}x")


if __name__ == "__main__":
    main()
