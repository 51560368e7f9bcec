"""Where downloaded images go: deterministic, filesystem-safe, sharded names, written atomically.

`images/<abc>/<stem>.<ext>`: `abc` are the first 3 hex digits of sha256(image_id), so any
id lands in the same one of 4,096 folders whatever the input order or machine (3,500
files per folder at 14M images; one level keeps folder creation rare in small runs);
`stem` is the id with every character outside `[a-z0-9_.-]` escaped as `%xx` (UTF-8
bytes), except `:` which becomes `+`. The escape is injective even on case-insensitive
filesystems (capitals are escaped), so distinct ids never share a file. A stem longer
than 160 characters keeps 100 and appends `%h` and 40 hex digits of sha256(id) (`%h` is
never produced by the escape).
"""
from __future__ import annotations

import contextlib
import hashlib
import itertools
import re
from pathlib import Path

from mlbuild._util.atomic import write_atomic

_UNSAFE = re.compile(r"[^a-z0-9_.\-]")
_MAX_STEM = 160
EXTENSIONS = {"JPEG": "jpg", "MPO": "jpg", "PNG": "png", "GIF": "gif", "WEBP": "webp",
              "BMP": "bmp", "TIFF": "tif", "ICO": "ico"}


def _escape(match: re.Match) -> str:
    char = match.group()
    return "+" if char == ":" else "".join(f"%{b:02x}" for b in char.encode("utf-8", "surrogatepass"))


def file_stem(image_id: str) -> str:
    """The filesystem-safe, collision-free file name (without extension) of an image id."""
    stem = _UNSAFE.sub(_escape, image_id)
    if stem.startswith("."):
        stem = "%2e" + stem[1:]
    if len(stem) > _MAX_STEM:
        stem = stem[:100] + "%h" + hashlib.sha256(image_id.encode("utf-8", "surrogatepass")).hexdigest()[:40]
    return stem


def extension(fmt: str | None) -> str:
    """The file extension of a Pillow format name (`bin` when unknown)."""
    return EXTENSIONS.get(fmt or "", (fmt or "bin").lower())


def image_relpath(image_id: str, fmt: str | None) -> str:
    """`images/abc/<stem>.<ext>`, relative to the output folder, with '/' separators."""
    digest = hashlib.sha256(image_id.encode("utf-8", "surrogatepass")).hexdigest()
    return f"images/{digest[:3]}/{file_stem(image_id)}.{extension(fmt)}"


class ImageStore:
    """Writes image files under `out_dir` with `write_atomic`, their temp files in a private folder
    `tmp/<name>/` (so a killed run's leftovers are found without scanning `images/`). Not
    fsync'd: the journal line written after the file is the record, and a rerun checks nothing
    it has not recorded."""

    def __init__(self, out_dir: Path, tmp_name: str) -> None:
        self.out_dir = Path(out_dir)
        self._tmp = self.out_dir / "tmp" / tmp_name
        _remove_temp_files(self._tmp)  # leftovers of a killed run: never recorded
        self._tmp.mkdir(parents=True, exist_ok=True)
        self._counter = itertools.count()

    def save(self, image_id: str, fmt: str | None, body: bytes) -> tuple[str, None]:
        """Write `body` as the image's file; returns its path relative to the output folder (and
        no offset: the file is the image's own, unlike `spool.SpoolStore`'s)."""
        rel = image_relpath(image_id, fmt)
        write_atomic(self.out_dir / rel, body, temp=self._tmp / f"{next(self._counter)}.part", fsync=False)
        return rel, None

    def close(self) -> None:
        """Remove the private temp folder (only the temp files this store names)."""
        _remove_temp_files(self._tmp)
        with contextlib.suppress(OSError):
            self._tmp.rmdir()


def _remove_temp_files(folder: Path) -> None:
    """Delete the store's own temp files (`<n>.part`) in `folder`, nothing else."""
    for temp in folder.glob("*.part"):
        if temp.stem.isdigit():
            temp.unlink(missing_ok=True)
