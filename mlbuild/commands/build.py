"""`mlbuild build`: the main job, from a TOML config (or the embedded sample) to manifests."""
from __future__ import annotations

import argparse
from pathlib import Path

from mlbuild.config import load_config
from mlbuild.pipeline import build
from mlbuild.sample import sample_config


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `build` subcommand."""
    p = sub.add_parser("build", help="build manifests from a TOML config (default: the embedded sample)")
    p.add_argument("config", nargs="?", type=Path, help="build config (docs/config.md); omit for the sample")
    p.add_argument("--out", type=Path, required=True, help="output directory for the manifests")
    p.add_argument("--no-resume", dest="resume", action="store_false",
                   help="start over instead of keeping finished parts of an interrupted build")
    p.add_argument("--engine", choices=["local", "dask"], help="executor (default: config or local)")
    p.add_argument("--workers", type=int,
                   help="worker processes for the local engine / LocalCluster (default: one per core)")
    p.add_argument("--scheduler", help="dask scheduler address tcp://HOST:PORT (default: start a LocalCluster)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run the build and print where the manifests are."""
    config = load_config(args.config) if args.config else sample_config()
    for key in ("engine", "workers", "scheduler"):
        if getattr(args, key) is not None:
            setattr(config, key, getattr(args, key))
    if args.scheduler:
        config.engine = "dask"
    result = build(config, args.out, resume=args.resume)
    images = ", ".join(f"{n:,} {split}" for split, n in result.counts["images"].items())
    print(f"built {result.counts['classes']:,} classes, images: {images} -> {result.out_dir} "
          f"({sum(result.timings.values()):.1f} s)")
    return 0
