"""`mlbuild fetch`: download official list/annotation files into a cache, resumably and verified."""
from __future__ import annotations

import argparse
from pathlib import Path

from mlbuild.errors import MlbuildError
from mlbuild.sources.official_files import fetch, known_files, resolve


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `fetch` subcommand."""
    p = sub.add_parser("fetch", help="download known list/annotation files (by name or URL) into a cache")
    p.add_argument("files", nargs="*", metavar="NAME_OR_URL", help="known file names (see --list) or URLs")
    p.add_argument("--cache", type=Path, help="cache folder (required unless --list); a file in it that fetch "
                   "did not place is verified and kept, or refused, never replaced")
    p.add_argument("--retries", type=int, default=2, help="resume attempts after a broken transfer (default: 2)")
    p.add_argument("--list", action="store_true", help="print the known files (name, size, md5, url) and exit")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Fetch every file in order and print its cached path; stop at the first error."""
    if args.list:
        for item in sorted(known_files().values(), key=lambda k: k.name):
            size = f"{item.size:,}" if item.size is not None else "?"
            print(f"{item.name}\t{size}\t{item.md5 or '?'}\t{item.url}")
        return 0
    if args.cache is None or not args.files:
        raise MlbuildError("give NAME_OR_URL arguments and --cache DIR (or --list)")
    table = known_files()
    for name in args.files:
        print(fetch(resolve(name, table), args.cache, retries=args.retries))
    return 0
