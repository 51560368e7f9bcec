"""All or nothing: every file mlbuild writes goes through `write_atomic`.

The content goes to a temporary file (by default `.NAME.partial` beside the target, so the
rename never crosses filesystems), is fsync'd, and replaces the target with `os.replace`:
a reader, or a rerun after `kill -9`, sees the old file or the new one, never a torn one.
A failure (disk full, read-only folder, a folder where the file should be) removes the
temporary file and raises `OutputError` naming the target, instead of an OS traceback.
"""
from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from mlbuild.errors import OutputError

Content = bytes | str | Callable[[Path], object]


def write_atomic(path: Path | str, content: Content, temp: Path | str | None = None, fsync: bool = True) -> Path:
    """Write `content` to `path` atomically; returns `path`.

    `content` is bytes, text (written as UTF-8, newlines untouched) or a function that writes
    the file it is given (a Parquet writer, say). `temp` is the temporary file to use (default
    `.NAME.partial` beside `path`; it must be on the same filesystem); `fsync=False` skips the
    flush to disk where a journal written afterwards is the durable record.
    """
    path = Path(path)
    temp = Path(temp) if temp is not None else path.with_name(f".{path.name}.partial")
    try:
        os.makedirs(path.parent, exist_ok=True)
        if callable(content):
            content(temp)
            if fsync:
                _fsync(temp)
        else:
            _write_bytes(temp, content.encode("utf-8") if isinstance(content, str) else content, fsync)
        os.replace(temp, path)
    except OSError as err:
        _discard(temp)
        raise OutputError(path, err) from err
    return path


def _write_bytes(path: Path, data: bytes, fsync: bool) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        view = memoryview(data)
        while view:  # a regular file takes it all at once, but write() may be partial
            view = view[os.write(fd, view):]
        if fsync:
            os.fsync(fd)
    finally:
        os.close(fd)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _discard(path: Path) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass
