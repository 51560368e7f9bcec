"""The `mlbuild` command line: one subcommand per module in `mlbuild.commands`.

Each command module defines `register(subparsers)`, which adds its parser and
sets `func(args) -> int`; so commands are added without editing this file.
Nothing reaches the user as a traceback: an `MlbuildError` is one line naming the file,
line and field; any other exception is one line plus how to see its traceback
(`--debug` or `MLBUILD_DEBUG=1`).
"""
from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import sys
import traceback
from pathlib import Path

from mlbuild import __version__, commands
from mlbuild.errors import MlbuildError


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    """The argument parser: with every registered subcommand, or only the one `argv` names.

    Importing a command's module imports its stage (the build pulls in scipy and nltk, about
    2 s), so a command line that names a command loads that command alone; help and unknown
    commands load them all.
    """
    parser = argparse.ArgumentParser(
        prog="mlbuild", description="Build WordNet-normalized, hierarchy-consistent, decontaminated "
                                    "multi-label image datasets from ImageNet-21k, Open Images and your own lists.")
    parser.add_argument("--version", action="version", version=f"mlbuild {__version__}")
    parser.add_argument("--debug", action="store_true", help="show the traceback of an unexpected error "
                                                             "(also MLBUILD_DEBUG=1)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    names = sorted(info.name for info in pkgutil.iter_modules(commands.__path__))
    named = _command_module(argv)
    for name in [named] if named in names else names:
        importlib.import_module(f"mlbuild.commands.{name}").register(sub)
    return parser


def _command_module(argv: list[str] | None) -> str | None:
    """The module name of the command in `argv` (its first non-option word), if any."""
    words = [a for a in (sys.argv[1:] if argv is None else argv) if not a.startswith("-")]
    return words[0].replace("-", "_") if words else None


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script; returns the exit status."""
    args = build_parser(argv).parse_args(argv)
    debug = args.debug or os.environ.get("MLBUILD_DEBUG", "") not in ("", "0")
    try:
        return int(args.func(args) or 0)
    except MlbuildError as err:
        if debug:
            traceback.print_exc()
        print(f"mlbuild {args.command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"mlbuild {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as err:  # noqa: BLE001 - the last line of defence: one line, never a traceback
        if debug:
            traceback.print_exc()
        ours = [f for f in traceback.extract_tb(err.__traceback__) if f"{os.sep}mlbuild{os.sep}" in f.filename]
        at = f" (in {Path(ours[-1].filename).name}:{ours[-1].lineno})" if ours else ""
        print(f"mlbuild {args.command}: unexpected error: {type(err).__name__}: {err}{at}; "
              "run with MLBUILD_DEBUG=1 (or --debug) for the traceback", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
