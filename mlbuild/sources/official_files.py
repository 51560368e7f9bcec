"""Download official list and annotation files into a cache folder, resumably and verified.

A download goes to `<cache>/<name>.part`, resumes from its size with an HTTP Range
request, and is renamed into place only once its size and MD5 match the known values
(`wordnet_maps/known_files.csv`, from the official Open Images manifest and pinned
ImageNet metadata). The verified MD5 is kept in `<name>.md5` so a cached copy is
reused without hashing it again. A size or MD5 mismatch is a FetchError that says
what was expected and what came.
"""
from __future__ import annotations

import csv
import hashlib
import os
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlparse

import requests

from mlbuild._util.atomic import write_atomic
from mlbuild._util.progress import Progress
from mlbuild._util.resources import wordnet_map
from mlbuild.errors import MlbuildError

CHUNK_BYTES = 1 << 16  # a broken transfer loses at most the chunk being read
RETRYABLE = (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError)


class FetchError(MlbuildError):
    """A download failed or did not match its known size or MD5."""


@dataclass(frozen=True)
class KnownFile:
    """A downloadable file: cache name, URL, and its size and MD5 when known."""

    name: str
    url: str
    size: int | None = None
    md5: str | None = None


def known_files(path: Path | None = None) -> dict[str, KnownFile]:
    """The shipped table of known files, by name."""
    with open(path or wordnet_map("known_files.csv"), newline="", encoding="utf-8") as f:
        return {row["name"]: KnownFile(row["name"], row["url"], int(row["size"]) if row["size"] else None,
                                       row["md5"] or None) for row in csv.DictReader(f)}


def resolve(name_or_url: str, table: dict[str, KnownFile] | None = None) -> KnownFile:
    """A known file by name or URL; an unknown URL is fetched without size or MD5 checks."""
    table = known_files() if table is None else table
    if name_or_url in table:
        return table[name_or_url]
    for item in table.values():
        if item.url == name_or_url:
            return item
    if urlparse(name_or_url).scheme in ("http", "https"):
        name = Path(unquote(urlparse(name_or_url).path)).name
        if not name:
            raise FetchError(f"{name_or_url}: the URL has no file name to cache it under")
        return KnownFile(name, name_or_url)
    raise FetchError(f"{name_or_url!r} is neither a known file name (see `mlbuild fetch --list`) nor a URL")


def fetch(item: KnownFile, cache: Path, retries: int = 2, session: requests.Session | None = None,
          timeout: float = 60.0) -> Path:
    """The verified local copy of `item` in `cache`, downloading (or resuming) it if needed."""
    cache = Path(cache)
    cache.mkdir(parents=True, exist_ok=True)
    target, part = cache / item.name, cache / f"{item.name}.part"
    if target.exists() and _cached_copy_ok(target, item):
        return target
    with nullcontext(session) if session is not None else requests.Session() as http:
        for attempt in range(retries + 1):
            try:
                _download(item, part, http, timeout)
                break
            except RETRYABLE as err:
                if attempt == retries:
                    have = part.stat().st_size if part.exists() else 0
                    raise FetchError(f"{item.url}: interrupted after {have:,} bytes ({type(err).__name__}); "
                                     f"run again to resume from {part}") from None
    digest = _verify(part, item)
    os.replace(part, target)
    write_atomic(_md5_path(target), f"{digest}  {item.name}\n")  # newer than the file: trusted next time
    return target


def _download(item: KnownFile, part: Path, session: requests.Session, timeout: float) -> None:
    """Append the missing bytes of `item` to `part` (from 0 if the server ignores Range)."""
    offset = part.stat().st_size if part.exists() else 0
    if item.size is not None and offset >= item.size:
        if offset == item.size:
            return
        part.unlink()
        offset = 0
    headers = {"Range": f"bytes={offset}-"} if offset else {}
    with session.get(item.url, headers=headers, stream=True, timeout=timeout) as response:
        if response.status_code == 416 and offset:
            return  # nothing after `offset`: the part is complete as far as the server knows
        if response.status_code not in (200, 206):
            raise FetchError(f"{item.url}: HTTP {response.status_code} {response.reason}")
        if response.status_code == 200:
            offset = 0  # no Range support (or a fresh start): rewrite from the beginning
        elif not response.headers.get("Content-Range", "").startswith(f"bytes {offset}-"):
            raise FetchError(f"{item.url}: asked for bytes {offset}- but got "
                             f"{response.headers.get('Content-Range')!r}")
        length = response.headers.get("Content-Length")
        total = offset + int(length) if length is not None else None
        if item.size is not None and total is not None and total != item.size:
            raise FetchError(f"{item.url}: the server has {total:,} bytes, expected {item.size:,}")
        _write_body(response, part, offset, item.size or total, item.name)
        received = part.stat().st_size
        if total is not None and received < total:
            raise requests.exceptions.ChunkedEncodingError(f"got {received:,} of {total:,} bytes")


def _write_body(response: requests.Response, part: Path, offset: int, total: int | None, label: str) -> None:
    with open(part, "ab" if offset else "wb") as f, Progress(label, total=total, unit="bytes") as progress:
        progress.update(offset)
        for chunk in response.iter_content(CHUNK_BYTES):
            f.write(chunk)
            progress.update(len(chunk))


def _verify(part: Path, item: KnownFile) -> str:
    """The MD5 of the finished download; FetchError (and the part removed) if size or MD5 is wrong."""
    size = part.stat().st_size
    if item.size is not None and size != item.size:
        part.unlink()
        raise FetchError(f"{item.url}: downloaded {size:,} bytes, expected {item.size:,}; removed {part.name}")
    digest = file_md5(part)
    if item.md5 is not None and digest != item.md5.lower():
        part.unlink()
        raise FetchError(f"{item.url}: MD5 {digest} does not match the expected {item.md5}; "
                         f"removed {part.name}, run again to download it afresh")
    return digest


def _cached_copy_ok(target: Path, item: KnownFile) -> bool:
    """Whether the cached file is the known one: size, and MD5 from its sidecar (hashing once if absent)."""
    if item.size is not None and target.stat().st_size != item.size:
        return False
    sidecar = _md5_path(target)
    recorded = sidecar.read_text().split()[0] if sidecar.exists() else None
    if recorded is None or os.path.getmtime(sidecar) < os.path.getmtime(target):
        recorded = file_md5(target)
        write_atomic(sidecar, f"{recorded}  {item.name}\n")
    return item.md5 is None or recorded == item.md5.lower()


def file_md5(path: Path) -> str:
    """Hex MD5 of a file, read in chunks."""
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "md5").hexdigest()


def _md5_path(target: Path) -> Path:
    return target.with_name(f"{target.name}.md5")
