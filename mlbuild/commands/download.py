"""`mlbuild download`: fetch the images of a manifest or URL list into a folder, resumably."""
from __future__ import annotations

import argparse
from dataclasses import fields
from pathlib import Path

from mlbuild._util.ownership import claim_output_dir
from mlbuild.images.download.config import DownloadConfig
from mlbuild.images.download.downloader import download
from mlbuild.images.download.inputs import InputList

# CLI option -> (type, help); each sets the DownloadConfig field of the same name (or _FIELDS').
_OPTIONS = {
    "concurrency": (int, "requests in flight, all hosts"),
    "per_host": (int, "requests in flight to one host"),
    "timeout": (float, "seconds per attempt, first to last byte"),
    "connect_timeout": (float, "seconds to connect"),
    "read_timeout": (float, "longest silence in seconds while waiting for data"),
    "max_attempts": (int, "tries per image for transient failures"),
    "max_bytes": (int, "larger bodies are not read past this size"),
    "max_pixels": (int, "decompression-bomb limit (default: Pillow's MAX_IMAGE_PIXELS)"),
    "user_agent": (str, "product token in User-Agent, matched by 'X-Robots-Tag: TOKEN: ...'"),
    "placeholders": (Path, "extra placeholder rules, placeholders.tsv format"),
    "batch_size": (int, "input rows read at a time"),
    "processes": (int, "parallel event loops (0: one per CPU)"),
    "workers": (int, "threads per process that decode, hash and write"),
    "resize_mode": (str, "none (keep the original bytes), keep_ratio (longer side = image size), "
                         "shorter_side, center_crop (square)"),
    "image_size": (int, "target size in pixels for --resize-mode"),
    "max_aspect_ratio": (float, "refuse images whose longer/shorter side exceeds this (bad_aspect_ratio)"),
    "min_image_size": (int, "refuse images whose shorter side is under this (too_small)"),
    "encode_format": (str, "format of resized images: jpeg, webp, png"),
    "encode_quality": (int, "JPEG/WebP quality of resized images, 1-100"),
    "output_format": (str, "files, webdataset or parquet (shards packed after the download)"),
    "shard_size": (int, "images per shard"),
}
_CHOICES = {f.name: f.metadata["choices"] for f in fields(DownloadConfig) if "choices" in f.metadata}
_FIELDS = {"timeout": "total_timeout", "user_agent": "user_agent_token"}


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `download` subcommand."""
    p = sub.add_parser("download", help="download the images of a manifest or URL list (resumable)",
                       description="Rerun the same command to resume after a crash or kill.")
    p.add_argument("input", type=Path, metavar="MANIFEST_OR_LIST",
                   help="Parquet file/folder with image_id, url[, md5, size], or a text list: "
                        "url, id,url or id<TAB>url per line")
    p.add_argument("--out", type=Path, required=True, help="output folder (images, journal, results)")
    p.add_argument("--retry-failed", nargs="?", const="all", choices=("all", "transient"),
                   help="also redo images whose last result failed (all, or transient only)")
    p.add_argument("--phash", action="store_true", help="store a 64-bit pHash per image")
    defaults = DownloadConfig()
    for option, (type_, text) in _OPTIONS.items():
        default = getattr(defaults, _FIELDS.get(option, option))
        p.add_argument("--" + option.replace("_", "-"), type=type_, dest=option, choices=_CHOICES.get(option),
                       metavar=None if option in _CHOICES else "RATIO" if option == "max_aspect_ratio" else
                       {int: "N", float: "SECONDS", str: "TOKEN", Path: "FILE"}[type_],
                       help=text + ("" if default is None else f" (default: {default})"))
    p.add_argument("--skip-reencode", action=argparse.BooleanOptionalAction, dest="skip_reencode",
                   help="keep the bytes of an image already in the output format and size (default: yes)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Download, then print this run's numbers and the folder's totals by status."""
    values = {_FIELDS.get(o, o): getattr(args, o) for o in (*_OPTIONS, "skip_reencode")
              if getattr(args, o) is not None}
    if args.retry_failed:
        values["retry"] = args.retry_failed
    config = DownloadConfig.from_mapping(values)
    claim_output_dir(args.out, "download", inputs=[args.input])
    source = InputList(args.input, config.batch_size)
    hasher = None
    if args.phash:
        from mlbuild.images.phash import phash_int  # imports scipy: only when asked for
        hasher = phash_int
    summary = download(source.batches(), config, args.out, hasher, total=source.total())
    if source.skips.count:
        print(source.skips.summary())
    print("\n".join(summary.lines()))
    print(f"results: {summary.results}")
    return 0
