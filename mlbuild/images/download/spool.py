"""Images kept for packing: appended to one spool file per journal instead of a file each.

When the download ends in shards (`output_format` webdataset or parquet), a file per image
is pure overhead: creating, renaming and later re-opening tens of thousands of small files
took 23% of the download workers' profile samples, against 49% for decoding, resizing and
encoding the images. The runner of journal
`<name>.jsonl` appends each stored image to `spool/<name>.spool` and records where it went
(`path` = the spool, `offset`, `stored_bytes`), and `SpoolReader` reads it back for packing.

Kill -9 safety is the journal's, as for image files: the bytes are written before the
journal line that points at them, so every recorded image is complete; bytes of an image
killed before its line is written are never referenced, and a rerun appends after them.
"""
from __future__ import annotations

import os
import threading
from pathlib import Path
from types import TracebackType

from mlbuild.errors import MlbuildError, OutputError

SPOOL_FOLDER = "spool"


class SpoolStore:
    """Appends images to `out_dir/spool/<name>.spool`; safe to call from several threads."""

    def __init__(self, out_dir: Path, name: str) -> None:
        self.rel = f"{SPOOL_FOLDER}/{name}.spool"
        self._path = Path(out_dir) / self.rel
        try:
            self._path.parent.mkdir(parents=True, exist_ok=True)
            self._fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as err:
            raise OutputError(self._path, err) from err
        self._end = os.fstat(self._fd).st_size  # a killed run's unrecorded tail stays unreferenced
        self._lock = threading.Lock()

    def save(self, image_id: str, fmt: str | None, body: bytes) -> tuple[str, int]:
        """Append `body`; returns (spool path relative to the output folder, offset). The id and
        format are `ImageStore.save`'s arguments, unused here: the journal line records them."""
        with self._lock:  # reserve the range; threads then write their ranges side by side
            offset, self._end = self._end, self._end + len(body)
        view, at = memoryview(body), offset
        try:
            while view:
                written = os.pwrite(self._fd, view, at)
                view, at = view[written:], at + written
        except OSError as err:  # disk full: the run stops; this image was not recorded
            raise OutputError(self._path, err) from err
        return self.rel, offset

    def close(self) -> None:
        """Close the spool file (it stays: shards are packed from it, and reruns repack from it)."""
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


class SpoolReader:
    """Reads stored images back by (path, offset, size), keeping each spool file open once."""

    def __init__(self, out_dir: Path) -> None:
        self._out_dir = Path(out_dir)
        self._fds: dict[str, int] = {}
        self._lock = threading.Lock()

    def read(self, path: str, offset: int, size: int) -> bytes:
        """The `size` bytes at `offset` of spool `path` (relative to the output folder)."""
        try:
            data = os.pread(self._fd(path), size, offset)
        except OSError as err:
            raise MlbuildError(f"{self._out_dir / path}: cannot read a recorded image: {err.strerror}") from None
        if len(data) != size:
            raise MlbuildError(f"{self._out_dir / path}: ends before byte {offset + size:,}, where the journal "
                               "records an image (was the file changed outside mlbuild?)")
        return data

    def _fd(self, path: str) -> int:
        with self._lock:
            if path not in self._fds:
                self._fds[path] = os.open(self._out_dir / path, os.O_RDONLY)
            return self._fds[path]

    def __enter__(self) -> SpoolReader:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        for fd in self._fds.values():
            os.close(fd)
        self._fds.clear()
