"""Output folders and files mlbuild owns: it writes only where it may, and never over a user's file.

A command that writes a folder (`build`, `download`, `vocab`) first claims it: the folder must
be absent, empty, or carry the marker `.mlbuild-output` (a small JSON: tool, kind, version) that
mlbuild wrote when it first claimed it; anything else is refused before any work, as is a
folder claimed by another kind of command, and an input that lies inside the output folder
(or an input folder that contains it). A command that writes one file (`hash`, `dedup`)
may replace only a file mlbuild wrote (a Parquet file with `mlbuild.*` metadata).
Unwritable targets (read-only, a file where a folder should be) are refused up front.
"""
from __future__ import annotations

import json
import tempfile
from collections.abc import Iterable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from mlbuild import __version__
from mlbuild._util.atomic import write_atomic
from mlbuild.errors import OutputError

MARKER = ".mlbuild-output"


def claim_output_dir(out: Path, kind: str, inputs: Iterable[Path] = ()) -> Path:
    """Make sure mlbuild may write into folder `out` as a `kind` output, and mark it; returns `out`.

    Raises `OutputError` (one line, nothing written) when the folder is someone else's, was
    claimed by another kind of command, cannot be written, or overlaps one of `inputs`.
    """
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise OutputError(out, "is a file, not a folder; give a new or empty folder")
    _refuse_overlaps(out, inputs)
    owner = marker_kind(out)
    if owner is None and out.is_dir() and any(out.iterdir()):
        raise OutputError(out, f"is not empty and was not made by mlbuild (no {MARKER} file); mlbuild "
                               "writes only into a new, empty or earlier mlbuild output folder")
    if owner is not None and owner != kind:
        raise OutputError(out, f"is an mlbuild {owner} folder, not a {kind} folder; use another folder")
    if owner is None:
        try:
            out.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise OutputError(out, err) from err
        write_atomic(out / MARKER, json.dumps({"tool": "mlbuild", "kind": kind, "version": __version__},
                                              sort_keys=True) + "\n")
    else:
        _probe_writable(out)
    return out


def marker_kind(out: Path) -> str | None:
    """The kind of mlbuild output `out` is marked as, or None if it carries no valid marker."""
    try:
        marker = json.loads((Path(out) / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(marker, dict) or marker.get("tool") != "mlbuild" or not isinstance(marker.get("kind"), str):
        return None
    return marker["kind"]


def check_output_file(path: Path, inputs: Iterable[Path] = (), csv_header: str | None = None) -> Path:
    """Make sure mlbuild may write the single file `path`; returns it.

    Refused: a folder at `path`, an existing file that mlbuild did not write (not Parquet with
    `mlbuild.*` metadata; for a CSV output, a file whose first line is not `csv_header`), `path`
    equal to one of `inputs`, or a folder that cannot be written.
    """
    path = Path(path)
    if path.is_dir():
        raise OutputError(path, "is a folder; give the path of a Parquet file to write")
    for item in inputs:
        if path.resolve() == Path(item).resolve():
            raise OutputError(path, "is also an input; write the output to another file")
    if path.exists() and not _written_by_mlbuild(path, csv_header):
        raise OutputError(path, "exists and was not written by mlbuild; remove it or choose another path")
    parent = path.parent
    if parent.exists() and not parent.is_dir():
        raise OutputError(path, f"{parent} is a file, not a folder")
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise OutputError(parent, err) from err
    _probe_writable(parent)
    return path


def _written_by_mlbuild(path: Path, csv_header: str | None = None) -> bool:
    if csv_header is not None:
        try:
            with open(path, encoding="utf-8", newline="") as fh:
                return fh.readline().rstrip("\r\n") == csv_header
        except (OSError, UnicodeDecodeError):
            return False
    try:
        metadata = pq.read_schema(path).metadata or {}
    except (OSError, pa.ArrowInvalid):
        return False
    return any(key.startswith(b"mlbuild.") for key in metadata)


def _probe_writable(folder: Path) -> None:
    """OutputError now, rather than after the work, if no file can be created in `folder`."""
    try:
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as err:
        raise OutputError(folder, err) from err


def _refuse_overlaps(out: Path, inputs: Iterable[Path]) -> None:
    """An input inside the output folder, or an input folder holding it, is an error."""
    target = out.resolve()
    for item in inputs:
        path = Path(item).resolve()
        if path == target or target in path.parents:
            raise OutputError(out, f"contains the input {item}; mlbuild never writes where its inputs are")
        if path.is_dir() and path in target.parents:
            raise OutputError(out, f"is inside the input folder {item}; choose an output folder outside it")
