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

import hashlib
import itertools
import os
import re
import shutil
from pathlib import Path

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


def image_relpath(image_id: str, fmt: str | None) -> str:
    """`images/abc/<stem>.<ext>`, relative to the output folder, with '/' separators."""
    digest = hashlib.sha256(image_id.encode("utf-8", "surrogatepass")).hexdigest()
    ext = EXTENSIONS.get(fmt or "", (fmt or "bin").lower())
    return f"images/{digest[:3]}/{file_stem(image_id)}.{ext}"


class ImageStore:
    """Writes image files under `out_dir`: temp file in a private folder, then os.replace."""

    def __init__(self, out_dir: Path, tmp_name: str) -> None:
        self.out_dir = Path(out_dir)
        self._tmp = self.out_dir / "tmp" / tmp_name
        shutil.rmtree(self._tmp, ignore_errors=True)  # leftovers of a killed run: never recorded
        self._tmp.mkdir(parents=True)
        (self.out_dir / "images").mkdir(exist_ok=True)
        self._counter = itertools.count()
        self._made: set[str] = set()

    def save(self, image_id: str, fmt: str | None, body: bytes) -> str:
        """Write `body` as the image's file; returns its path relative to the output folder."""
        rel = image_relpath(image_id, fmt)
        folder = rel[:rel.rindex("/")]
        if folder not in self._made:
            os.makedirs(os.path.join(self.out_dir, folder), exist_ok=True)
            self._made.add(folder)
        tmp = os.path.join(self._tmp, f"{next(self._counter)}.part")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            view = memoryview(body)
            while view:  # a regular file takes it all at once, but write() may be partial
                view = view[os.write(fd, view):]
        finally:
            os.close(fd)
        os.replace(tmp, os.path.join(self.out_dir, rel))
        return rel

    def close(self) -> None:
        """Remove the private temp folder."""
        shutil.rmtree(self._tmp, ignore_errors=True)
