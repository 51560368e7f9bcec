"""Training shards: samples packed in a fixed order, `shard_size` per file, each file atomic.

A shard is a WebDataset tar (`{key}.{ext}` image + `{key}.json` labels, in key order
within the file) or a Parquet file (one row per sample: key, image bytes, format, and the
label fields as columns). Shard i of a prefix holds samples i*N .. i*N+N-1 of the caller's
order, so the same samples give byte-identical shards whatever the run or the kills.

Each shard is written under `.partial/` as `<name>.<ext>.part`, fsync'd and renamed into place, then
its `<name>_stats.json` is written (atomically); a rerun skips a shard whose stats name
the same keys, and rewrites any other. A killed run leaves at most a `.part` file in
`.partial/`, which no reader globbing `*.tar` / `*.parquet` takes for a shard; a finished run
removes the `.part` files of its prefix (and the folder when empty), nothing else.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tarfile
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from mlbuild._util.atomic import write_atomic
from mlbuild._util.tar import write_end, write_member
from mlbuild.images.download.store import file_stem

SHARD_FORMATS = ("webdataset", "parquet")
PARTIAL = ".partial"  # where shards are written before they are renamed into place
_WRITE_BUFFER = 1 << 20  # members are written in three pieces: one write syscall per MiB, not per piece

Loader = Callable[[dict], tuple[bytes, str]]  # a sample's row -> (image bytes, file extension)


def sample_key(image_id: str) -> str:
    """The sample key of an image id: filesystem-safe, unique, and without '.' (WebDataset
    splits a member name at its first dot)."""
    return file_stem(image_id).replace(".", "%2e")


@dataclass
class ShardStats:
    """What writing one shard did (also its `_stats.json`)."""

    shard: str
    count: int
    image_bytes: int
    keys_sha256: str
    seconds: float
    skipped: bool = False  # already complete from an earlier run
    offsets: list[int] | None = None  # of each sample's image data in a tar shard (not in _stats.json)

    def line(self) -> str:
        """One progress line: images, MiB and rates of this shard."""
        if self.skipped:
            return f"{self.shard}: {self.count:,} images (already written)"
        secs = max(self.seconds, 1e-9)
        return (f"{self.shard}: {self.count:,} images, {self.image_bytes / 2**20:,.1f} MiB in {self.seconds:.1f}s "
                f"({self.count / secs:,.0f} images/s, {self.image_bytes / 2**20 / secs:,.1f} MiB/s)")


@dataclass
class ShardSummary:
    """Every shard of one prefix, in order."""

    shards: list[ShardStats] = field(default_factory=list)

    @property
    def count(self) -> int:
        return sum(s.count for s in self.shards)

    def lines(self) -> list[str]:
        """Per-shard lines, then the totals."""
        written = [s for s in self.shards if not s.skipped]
        secs = sum(s.seconds for s in written)
        size = sum(s.image_bytes for s in written)
        total = (f"{len(self.shards)} shards, {self.count:,} images; written now: {len(written)} shards, "
                 f"{sum(s.count for s in written):,} images, {size / 2**20:,.1f} MiB in {secs:.1f}s")
        return [s.line() for s in self.shards] + [total]


def write_shards(rows: pa.Table, load: Loader, out_dir: Path, prefix: str, shard_size: int,
                 fmt: str = "webdataset", meta_columns: list[str] | None = None, threads: int = 4,
                 report: Callable[[str], None] | None = None) -> ShardSummary:
    """Write `rows` (in their order; columns `key`, the loader's, and `meta_columns`) as shards.

    `load(row)` returns a sample's image bytes and extension; it runs on `threads` threads.
    Every column in `meta_columns` goes into the sample's JSON (or Parquet columns).
    """
    if fmt not in SHARD_FORMATS:
        raise ValueError(f"shard format must be one of {SHARD_FORMATS}, got {fmt!r}")
    out_dir = Path(out_dir)
    tmp = out_dir / PARTIAL
    out_dir.mkdir(parents=True, exist_ok=True)
    summary = ShardSummary()
    meta_columns = meta_columns or []
    ext = "tar" if fmt == "webdataset" else "parquet"
    with ThreadPoolExecutor(threads) as pool:
        for index, start in enumerate(range(0, rows.num_rows, shard_size)):
            chunk = rows.slice(start, shard_size)
            name = f"{prefix}-{index:05d}"
            stats = _write_one(chunk, load, pool, out_dir, tmp, name, ext, meta_columns)
            summary.shards.append(stats)
            if report is not None:
                report(stats.line())
    for stale in tmp.glob(f"{prefix}-[0-9][0-9][0-9][0-9][0-9].{ext}.part"):  # of killed runs
        stale.unlink()
    with contextlib.suppress(OSError):
        tmp.rmdir()  # only if empty
    return summary


def _write_one(chunk: pa.Table, load: Loader, pool: ThreadPoolExecutor, out_dir: Path, tmp: Path,
               name: str, ext: str, meta_columns: list[str]) -> ShardStats:
    """Write (or keep) one shard; its stats file is written last."""
    keys = chunk.column("key").to_pylist()
    digest = hashlib.sha256("\n".join(keys).encode()).hexdigest()
    target, stats_path = out_dir / f"{name}.{ext}", out_dir / f"{name}_stats.json"
    old = _read_stats(stats_path)
    if target.is_file() and old is not None and old.get("keys_sha256") == digest:
        return ShardStats(name, old["count"], old["image_bytes"], digest, 0.0, skipped=True,
                          offsets=_image_offsets(target) if ext == "tar" else None)
    start = time.monotonic()
    records = chunk.to_pylist()
    tmp.mkdir(parents=True, exist_ok=True)
    part = tmp / f"{name}.{ext}.part"
    samples = _loaded(records, load, pool)
    sizes: list[int] = []
    offsets: list[int] | None = [] if ext == "tar" else None
    if offsets is not None:
        write_atomic(target, lambda temp: sizes.append(_write_tar(temp, samples, meta_columns, offsets)),
                     temp=part, fsync=False)
    else:
        schema = pa.schema([("key", pa.string()), ("image", pa.binary()), ("format", pa.string())])
        for c in meta_columns:
            if c not in schema.names:
                schema = schema.append(chunk.schema.field(c))
        write_atomic(target, lambda temp: sizes.append(_write_parquet(temp, samples, schema)), temp=part,
                     fsync=False)
    stats = ShardStats(name, len(records), sizes[0], digest, time.monotonic() - start, offsets=offsets)
    write_atomic(stats_path, json.dumps({k: v for k, v in stats.__dict__.items() if k not in ("skipped", "offsets")},
                                        indent=1, sort_keys=True) + "\n")
    return stats


def _loaded(records: list[dict], load: Loader, pool: ThreadPoolExecutor,
            window: int = 64) -> Iterator[tuple[dict, bytes, str]]:
    """(record, image bytes, extension) in order, at most `window` images loaded ahead."""
    pending: deque = deque()
    for record in records:
        pending.append((record, pool.submit(load, record)))
        if len(pending) >= window:
            record_, future = pending.popleft()
            yield record_, *future.result()
    while pending:
        record_, future = pending.popleft()
        yield record_, *future.result()


def _meta(record: dict, meta_columns: list[str]) -> bytes:
    return json.dumps({c: record[c] for c in meta_columns}, sort_keys=True, separators=(",", ":")).encode()


def _write_tar(path: Path, samples: Iterator[tuple[dict, bytes, str]], meta_columns: list[str],
               offsets: list[int]) -> int:
    """A deterministic tar (fixed mtime, owner, mode; image then JSON per sample), fsync'd.
    Returns the image bytes written; each image's data offset is appended to `offsets`."""
    size = 0
    with open(path, "wb", buffering=_WRITE_BUFFER) as fh:
        for record, data, ext in samples:
            offsets.append(write_member(fh, f"{record['key']}.{ext}", data))
            write_member(fh, f"{record['key']}.json", _meta(record, meta_columns))
            size += len(data)
        write_end(fh)
        fh.flush()
        os.fsync(fh.fileno())
    return size


def _write_parquet(path: Path, samples: Iterator[tuple[dict, bytes, str]], schema: pa.Schema,
                   group: int = 256) -> int:
    """One row per sample (`schema`: key, image, format, meta columns), row groups of `group`, fsync'd."""
    size, rows = 0, []
    with pq.ParquetWriter(path, schema, compression="zstd", compression_level=1) as writer:
        for record, data, ext in samples:
            rows.append({"key": record["key"], "image": data, "format": ext,
                         **{c: record[c] for c in schema.names[3:]}})
            size += len(data)
            if len(rows) == group:
                writer.write_table(pa.Table.from_pylist(rows, schema))
                rows = []
        if rows:
            writer.write_table(pa.Table.from_pylist(rows, schema))
    with open(path, "rb") as fh:
        os.fsync(fh.fileno())
    return size


def _image_offsets(path: Path) -> list[int]:
    """The data offset of every image member (every other member) of a tar shard written here."""
    with tarfile.open(path) as tar:
        return [member.offset_data for member in tar][::2]


def _read_stats(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None
