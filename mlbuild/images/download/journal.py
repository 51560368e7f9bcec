"""The result journal: an append-only JSON-lines file, the downloader's only record of progress.

One line per finished image (`ImageResult.as_record()` plus `t`, the Unix time it was
written), appended by unbuffered writes after the image's file is in place, so `kill -9`
at any moment leaves every recorded image complete on disk. The file is
fsync'd every `fsync_interval` seconds and on close (group commit), which bounds what a
power loss can take back. A torn last line (no newline, or not JSON) is cut off when the
journal is opened again; readers ignore anything after the last newline. Several
journals may share a folder (one per shard); the latest record of an image wins.
"""
from __future__ import annotations

import json
import os
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from types import TracebackType

import pyarrow as pa
import pyarrow.json as pj

from mlbuild.errors import MlbuildError
from mlbuild.images.download.results import RESULTS, ImageResult

try:
    import fcntl
except ImportError:  # Windows: no advisory locks; one writer per journal is then the user's job
    fcntl = None

JOURNAL_SCHEMA = RESULTS.append(pa.field("t", pa.float64(), nullable=False))
_TAIL_STEP = 1 << 16
_BLOCK = 16 << 20  # bytes of JSON parsed per batch


class Journal:
    """An open journal file, exclusively locked, appended to in whole lines."""

    def __init__(self, path: Path, fsync_interval: float = 1.0, lock_wait: float = 10.0) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)
        if fcntl is not None:
            self._lock(lock_wait)
        self.repaired_bytes = _cut_torn_tail(self._fd)
        self._interval, self._synced = fsync_interval, time.monotonic()

    def _lock(self, wait: float) -> None:
        """Take the exclusive lock, waiting up to `wait` s (a killed run's workers are exiting)."""
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    os.close(self._fd)
                    raise MlbuildError(f"{self.path} is in use by another download") from None
                time.sleep(0.05)

    def append(self, results: Iterable[ImageResult]) -> None:
        """Record finished images with one write call (fsync'd with the next group)."""
        now, lines = time.time(), []
        for result in results:
            record = {k: v for k, v in result.as_record().items() if v is not None}  # absent = null
            record["t"] = now
            lines.append(json.dumps(record, separators=(",", ":")))
        if lines:
            os.write(self._fd, ("\n".join(lines) + "\n").encode())

    def sync_due(self) -> bool:
        """True, once per group-commit interval, when the caller should call `sync`."""
        now = time.monotonic()
        if now - self._synced < self._interval:
            return False
        self._synced = now
        return True

    def sync(self) -> None:
        """fsync the journal (safe to call from another thread)."""
        os.fsync(self._fd)

    def close(self) -> None:
        """fsync, unlock and close."""
        if self._fd >= 0:
            os.fsync(self._fd)
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


def _cut_torn_tail(fd: int) -> int:
    """Truncate after the last complete, parseable line; returns the bytes removed."""
    size = end = os.fstat(fd).st_size
    while end > 0:
        start = _last_newline(fd, end - 1) + 1  # start of the last line ending at `end`
        line = os.pread(fd, end - start, start)
        if line.endswith(b"\n") and _parses(line):
            break
        end = start
    if end < size:
        os.ftruncate(fd, end)
    return size - end


def _last_newline(fd: int, before: int) -> int:
    """Offset of the last b'\\n' strictly before offset `before`, or -1."""
    pos = before
    while pos > 0:
        lo = max(0, pos - _TAIL_STEP)
        found = os.pread(fd, pos - lo, lo).rfind(b"\n")
        if found >= 0:
            return lo + found
        pos = lo
    return -1


def _parses(line: bytes) -> bool:
    try:
        return isinstance(json.loads(line), dict)
    except ValueError:
        return False


def journal_paths(out_dir: Path) -> list[Path]:
    """Every journal of an output folder, in name order."""
    return sorted((Path(out_dir) / "journal").glob("*.jsonl"))


def iter_journal(path: Path, columns: list[str] | None = None) -> Iterator[pa.RecordBatch]:
    """The complete records of a journal (up to its last newline), streamed in batches."""
    schema = _read_schema(columns)
    fd = os.open(path, os.O_RDONLY)
    try:
        end = _last_newline(fd, os.fstat(fd).st_size) + 1
    finally:
        os.close(fd)
    if end == 0:
        return
    options = pj.ParseOptions(explicit_schema=schema, unexpected_field_behavior="ignore")
    try:
        with pa.memory_map(str(path)) as source:
            yield from pj.open_json(pa.BufferReader(source.read_buffer(end)),
                                    read_options=pj.ReadOptions(block_size=_BLOCK),
                                    parse_options=options)
    except pa.ArrowInvalid as err:
        raise MlbuildError(f"{path}: corrupt journal: {err}") from err


def read_journal(path: Path, columns: list[str] | None = None) -> pa.Table:
    """The complete records of a journal as one table (JOURNAL_SCHEMA's types, nullable)."""
    return pa.Table.from_batches(list(iter_journal(path, columns)), _read_schema(columns))


def _read_schema(columns: list[str] | None) -> pa.Schema:
    names = JOURNAL_SCHEMA.names if columns is None else columns
    return pa.schema([JOURNAL_SCHEMA.field(c).with_nullable(True) for c in names])  # as parsed
