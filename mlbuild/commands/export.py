"""`mlbuild export FORMAT BUILD_DIR --out DIR`: write a finished build in a training format.

`FORMATS` maps a format name to (exporter, add_options, help): `exporter(args) -> list of summary
lines`; each format adds its own options with `add_options(parser)`. Formats whose exporter is a
plain `export(build_dir: Path, out: Path) -> ExportReport` (mlbuild.manifests.export_common: reads the
build part by part, writes atomically and deterministically, never over a file it did not write)
register in one line with `_plain`.
"""
from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

from mlbuild.images.download.resize import ENCODE_FORMATS, RESIZE_MODES, ResizeSpec
from mlbuild.images.shard_writer import SHARD_FORMATS
from mlbuild.manifests.export_common import Exporter
from mlbuild.manifests.export_imagenet import export_imagenet
from mlbuild.manifests.export_multihot import export_multihot
from mlbuild.manifests.export_tencent import export_tencent


def _shard_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--shard-size", type=int, default=10_000, metavar="N", help="images per shard (default: 10000)")
    p.add_argument("--threads", type=int, default=4, metavar="N", help="threads reading/resizing images")
    p.add_argument("--resize-mode", choices=RESIZE_MODES, default="none",
                   help="re-shape the stored images (default: none, store them as downloaded)")
    p.add_argument("--image-size", type=int, default=256, metavar="N")
    p.add_argument("--encode-format", choices=ENCODE_FORMATS, default="jpeg")
    p.add_argument("--encode-quality", type=int, default=95, metavar="Q")
    p.add_argument("--skip-reencode", action=argparse.BooleanOptionalAction, default=True)


def _shards(fmt: str) -> Callable[[argparse.Namespace], list[str]]:
    def export(args: argparse.Namespace) -> list[str]:
        from mlbuild.manifests.webdataset_export import export_webdataset
        spec = ResizeSpec(args.resize_mode, args.image_size, encode_format=args.encode_format,
                          encode_quality=args.encode_quality, skip_reencode=args.skip_reencode)
        return export_webdataset(args.build_dir, args.out, spec, args.shard_size, fmt, args.threads).lines()
    return export


def _no_options(p: argparse.ArgumentParser) -> None:
    """Formats without options of their own."""


def _plain(export: Exporter, text: str) -> tuple[Callable[[argparse.Namespace], list[str]],
                                                 Callable[[argparse.ArgumentParser], None], str]:
    """A registry entry for an `export(build_dir, out) -> ExportReport` function."""
    def run_export(args: argparse.Namespace) -> list[str]:
        report = export(args.build_dir, args.out)
        return [f"{args.out / name}: {count:,} lines/rows" for name, count in sorted(report.files.items())] + \
            [f"left out: {count:,} images ({reason})" for reason, count in sorted(report.skipped.items())]
    return run_export, _no_options, text


# name -> (exporter, options, help)
FORMATS: dict[str, tuple[Callable[[argparse.Namespace], list[str]], Callable[[argparse.ArgumentParser], None],
                         str]] = {
    fmt: (_shards(fmt), _shard_options, f"{fmt} shards per split with label JSON (ok, not removed images)")
    for fmt in SHARD_FORMATS
} | {
    "tencent": _plain(export_tencent, "Tencent ML-Images: dictionary_and_semantic_hierarchy.txt + <split>_urls.txt"),
    "imagenet": _plain(export_imagenet, "ImageNet lists: synsets.txt + <split>.txt of `path class_index ...`"),
    "multihot": _plain(export_multihot, "sparse label matrices: <split>.npz (scipy CSR) + <split>_images.parquet"),
}


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `export` subcommand, one sub-subcommand per format."""
    p = sub.add_parser("export", help="write a finished build in a training or dataset format "
                       f"({', '.join(FORMATS)})")
    formats = p.add_subparsers(dest="format", required=True, metavar="FORMAT")
    for name, (_, add_options, text) in FORMATS.items():
        f = formats.add_parser(name, help=text, description=text)
        f.add_argument("build_dir", type=Path, metavar="BUILD_DIR", help="output folder of `mlbuild build`")
        f.add_argument("--out", type=Path, required=True, help="output folder (files mlbuild did not write are "
                       "never overwritten)")
        add_options(f)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run the chosen format's exporter and print its summary."""
    print("\n".join(FORMATS[args.format][0](args)))
    return 0
