"""Download official list and annotation files into a cache folder, resumably and verified.

The cache may be any folder, shared with the user's own files: `fetch` never overwrites or
deletes a file it did not create. Its own working files live in `<cache>/.mlbuild-fetch/`
(claimed like an output folder, `mlbuild._util.ownership`): a download goes to
`<name>.part` there, resumes from its size with an HTTP Range request, and is renamed to
`<cache>/<name>` only once its size and MD5 match the known values (`wordnet_maps/known_files.csv`,
from the official Open Images manifest and pinned ImageNet metadata). A record
`<name>.json` there (MD5, size and modification time of the file it placed) lets a cached
copy be reused without hashing it again. A `<cache>/<name>` that fetch did not place (no
record, or changed since) is verified against the known size and MD5 and kept, or refused
with one line when it does not match or no MD5 is known. A size or MD5 mismatch of a
download is a FetchError that says what was expected and what came.
"""
from __future__ import annotations

import csv
import hashlib
import json
import os
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlparse

import requests

from mlbuild._util.atomic import write_atomic
from mlbuild._util.ownership import claim_output_dir
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


STATE_DIR = ".mlbuild-fetch"  # under the cache: fetch's parts and records, nothing else


def fetch(item: KnownFile, cache: Path, retries: int = 2, session: requests.Session | None = None,
          timeout: float = 60.0) -> Path:
    """The verified local copy of `item` in `cache`, downloading (or resuming) it if needed.

    A file of that name that fetch did not place is kept when it matches the known size and MD5,
    else refused (FetchError): it is never replaced.
    """
    cache = Path(cache)
    state = fetch_state_dir(cache)
    target, part = cache / item.name, state / f"{item.name}.part"
    if os.path.lexists(target) and _cached_copy_ok(target, item, state):
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
    _write_record(target, digest, state)
    return target


def fetch_state_dir(cache: Path) -> Path:
    """`<cache>/.mlbuild-fetch`, created and marked as fetch's own (OutputError if it is someone else's)."""
    try:
        Path(cache).mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise FetchError(f"{cache}: cannot create the cache folder: {err.strerror or err}") from None
    return claim_output_dir(Path(cache) / STATE_DIR, "fetch")


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


def _cached_copy_ok(target: Path, item: KnownFile, state: Path) -> bool:
    """Whether the cached file is the known one; False only for fetch's own outdated copy (to replace).

    fetch's own copy (its record matches the file's size and mtime) is trusted by its recorded MD5.
    Any other file is hashed: kept when it matches the known size and MD5, otherwise refused.
    """
    if not target.is_file():
        raise FetchError(f"{target}: exists and is not a file; mlbuild will not replace it "
                         "(move it away or use another --cache)")
    stat, record = target.stat(), _read_record(state, item.name)
    if record is not None and (record.get("size"), record.get("mtime_ns")) == (stat.st_size, stat.st_mtime_ns):
        if _matches(item, stat.st_size, record.get("md5")):
            return True
        if record.get("fetched"):
            return False
    why, digest = _mismatch(target, item, stat.st_size)
    if why is None:
        _write_record(target, digest, state, fetched=False)
        return True
    raise FetchError(f"{target}: exists, was not fetched by mlbuild and {why}; mlbuild never replaces a file "
                     "it did not write: move it away or use another --cache")


def _matches(item: KnownFile, size: int, md5: object) -> bool:
    return (item.size is None or size == item.size) and (item.md5 is None or md5 == item.md5.lower())


def _mismatch(target: Path, item: KnownFile, size: int) -> tuple[str | None, str]:
    """(why a file that fetch did not place is not the known one, or None; its MD5 if computed)."""
    if item.md5 is None:
        return "no MD5 is known to verify it", ""
    if item.size is not None and size != item.size:
        return f"has {size:,} bytes, expected {item.size:,}", ""
    digest = file_md5(target)
    return None if digest == item.md5.lower() else f"its MD5 {digest} is not the expected {item.md5}", digest


def _read_record(state: Path, name: str) -> dict | None:
    try:
        record = json.loads((state / f"{name}.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


def _write_record(target: Path, digest: str, state: Path, fetched: bool = True) -> None:
    """Record a file fetch placed (`fetched`: it may replace it) or verified: its MD5, size and mtime."""
    stat = target.stat()
    write_atomic(state / f"{target.name}.json", json.dumps(
        {"md5": digest, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "fetched": fetched},
        sort_keys=True) + "\n")


def file_md5(path: Path) -> str:
    """Hex MD5 of a file, read in chunks."""
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "md5").hexdigest()
