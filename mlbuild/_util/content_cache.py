"""Data derived from shipped files, built once per content of those files and kept in mlbuild's own cache.

`cached(name, inputs, build)` returns `build()`'s value. The value is pickled to
`cache_dir()/NAME-HASH.pickle`, where HASH covers the bytes of every input file (the data and the
source of the code that derives from it), `salt` (e.g. a library version) and the Python and
numpy versions: a changed snapshot or derivation builds and writes a new file, and the next
process loads it instead of building. Only files of that name pattern, which this module
writes (through `write_atomic`), are ever read; none is deleted. A folder that cannot be written
or a file that cannot be read means building in memory, never an error.

The folder is $MLBUILD_CACHE_DIR, else $XDG_CACHE_HOME/mlbuild, else ~/.cache/mlbuild (no cache
when the home folder is unknown: never a folder relative to the working directory).
"""
from __future__ import annotations

import hashlib
import os
import pickle
import platform
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

import numpy as np

from mlbuild._util.atomic import write_atomic
from mlbuild.errors import OutputError

T = TypeVar("T")
CACHE_ENV = "MLBUILD_CACHE_DIR"


def cache_dir() -> Path | None:
    """mlbuild's cache folder (see the module docstring); None when there is no home folder to put it in."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    if os.environ.get("XDG_CACHE_HOME"):
        return Path(os.environ["XDG_CACHE_HOME"]) / "mlbuild"
    home = Path(os.path.expanduser("~"))
    return home / ".cache" / "mlbuild" if home.is_absolute() else None


def content_key(inputs: Sequence[Path], salt: str = "") -> str:
    """sha256 of the inputs' bytes (each with its length), the salt and the Python and numpy versions."""
    digest = hashlib.sha256(f"{salt}|{platform.python_version()}|{np.__version__}".encode())
    for path in inputs:
        data = Path(path).read_bytes()
        digest.update(len(data).to_bytes(8, "little"))
        digest.update(data)
    return digest.hexdigest()


def cached(name: str, inputs: Sequence[Path], build: Callable[[], T], salt: str = "") -> T:
    """`build()`, or what it returned for the same input contents, read from the cache folder."""
    folder = cache_dir()
    if folder is None:
        return build()
    path = folder / f"{name}-{content_key(inputs, salt)[:24]}.pickle"
    try:
        with open(path, "rb") as fh:
            return pickle.load(fh)
    except (OSError, pickle.UnpicklingError, EOFError, AttributeError, ImportError, ValueError):
        pass   # absent or unreadable: built again below, and the file replaced
    value = build()
    try:
        write_atomic(path, pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL), fsync=False)
    except OutputError:
        pass   # a read-only cache folder costs the next process the build, nothing more
    return value
