"""The image stages over shards, for any engine: download (+ hash), hash, near-duplicate join.

Each stage is a plain function of one shard, mapped by an `mlbuild.engines.local` engine (local
processes or Dask) and merged in shard order, so the result never depends on the engine
or the number of workers. What every shard needs (the download config, the evaluation
hashes) is the engine's `shared` value, one frozen dataclass per stage (`FetchInputs`,
`HashInputs`, `PairsInputs`): a cluster ships it once per worker.
- download: `fetch_shard` runs `download_shard` (one journal per shard, so a shard that is
  re-run after a lost worker resumes instead of fetching again), then the journals are
  merged into `results.parquet`. The output folder must be visible to every worker.
- hash: `hash_shard` (`key_table`) over slices of a listing of files (the one way a listing is
  hashed: the `hash` command runs it on a local engine).
- dedup: `pairs_shard` (`dedup_pairs`) of each slice of the training hashes against all
  evaluation hashes (the small side is broadcast, the large side partitioned); the exact search finds the
  same pairs in any partition, and the merged pairs are sorted as `dedup_pairs` sorts them.
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa

from mlbuild._util.ownership import claim_output_dir
from mlbuild._util.progress import Progress
from mlbuild.engines.local import Engine
from mlbuild.errors import SkipReport
from mlbuild.images.download.config import DownloadConfig
from mlbuild.images.download.downloader import download_shard
from mlbuild.images.download.journal import journal_paths
from mlbuild.images.download.state import write_results
from mlbuild.images.download.validate import Hasher
from mlbuild.images.hash_keys import KEYS, key_table
from mlbuild.images.neardup import PAIRS, dedup_pairs


@dataclass(frozen=True)
class Shard:
    """A named slice of the input: the same rows get the same name on every run (resume)."""

    name: str
    rows: pa.Table


def slices(table: pa.Table, rows: int) -> Iterator[pa.Table]:
    """Consecutive slices of `rows` rows, each a compact copy (a pyarrow slice pickles its
    parent's whole buffers, so a view would ship the full table with every task)."""
    for start in range(0, table.num_rows, rows):
        n = min(rows, table.num_rows - start)
        yield table.slice(start, n).take(pa.array(np.arange(n)))


def shards(batches: Iterable[pa.RecordBatch], rows: int, prefix: str = "shard") -> Iterator[Shard]:
    """Stream batches into shards of `rows` rows named `<prefix>-00000`, ... (lazily, so memory
    holds the shards in flight, whatever the input length)."""
    pending: list[pa.RecordBatch] = []
    filled = index = 0
    for batch in batches:
        while batch.num_rows:
            take = min(rows - filled, batch.num_rows)
            pending.append(batch.slice(0, take))
            batch, filled = batch.slice(take), filled + take
            if filled == rows:
                yield Shard(f"{prefix}-{index:05d}", _compact(pending))
                pending, filled, index = [], 0, index + 1
    if pending:
        yield Shard(f"{prefix}-{index:05d}", _compact(pending))


def _compact(batches: list[pa.RecordBatch]) -> pa.Table:
    table = pa.Table.from_batches(batches)
    return table.take(pa.array(np.arange(table.num_rows)))


@dataclass(frozen=True)
class FetchInputs:
    """What every download shard shares: the settings, the output folder, the hasher (or None)."""

    config: DownloadConfig
    out_dir: Path
    hasher: Hasher | None


@dataclass(frozen=True)
class HashInputs:
    """What every hash shard shares: the hash kind, fast decoding or not, the key role."""

    kind: str
    fast: bool
    role: str


@dataclass(frozen=True)
class PairsInputs:
    """What every near-duplicate shard shares: the evaluation hashes and the search settings."""

    evals: dict[str, pa.Table]
    max_distance: int
    column: str


def fetch_shard(shard: Shard, inputs: FetchInputs) -> int:
    """Download (and hash) one shard into out_dir; returns how many of its images have a result."""
    return download_shard(shard.rows, inputs.config, inputs.out_dir, shard.name, inputs.hasher).num_rows


def hash_shard(rows: pa.Table, inputs: HashInputs) -> tuple[pa.Table, pa.Table, SkipReport]:
    """`key_table` of one slice of a listing."""
    return key_table(rows, inputs.kind, inputs.fast, inputs.role)


def pairs_shard(train: pa.Table, inputs: PairsInputs) -> pa.Table:
    """`dedup_pairs` of one slice of the training hashes against every evaluation set."""
    return dedup_pairs(train, inputs.evals, inputs.max_distance, inputs.column)


def download_shards(engine: Engine, batches: Iterable[pa.RecordBatch], config: DownloadConfig,
                    out_dir: Path, shard_rows: int = 100_000, hasher: Hasher | None = None) -> pa.Table:
    """Download every row of `batches` shard by shard on `engine`; write and return the results.

    Limits in `config` hold per shard in flight: to keep cluster-wide totals (per host
    above all), pass each worker's share, e.g. `replace(config, processes=W).per_process()`.
    `hasher` must be a module-level function (it is pickled), e.g. `phash.phash_int`.
    """
    out_dir = claim_output_dir(Path(out_dir), "download")
    shared = FetchInputs(config, out_dir, hasher)
    with Progress("download shards", unit="images") as progress:
        for done in engine.map(fetch_shard, shards(batches, shard_rows), shared):
            progress.update(done)
    return write_results(journal_paths(out_dir), out_dir / "results.parquet")


def hash_files(engine: Engine, listing: pa.Table, kind: str = "phash", fast: bool = False,
               role: str = "plain", shard_rows: int = 256) -> tuple[pa.Table, pa.Table, SkipReport]:
    """`key_table` over the listing (image_id, path) in shards on `engine`, in listing order:
    the listing with its plain hash column, the KEYS of `role` and the unreadable files."""
    parts, keys, report = [], [], SkipReport("path")
    with Progress(f"hash {kind}", total=listing.num_rows, unit="images") as progress:
        for at, (part, part_keys, skipped) in zip(range(0, listing.num_rows, shard_rows),
                                                  engine.map(hash_shard, slices(listing, shard_rows),
                                                             HashInputs(kind, fast, role))):
            parts.append(part.drop_columns(["hash_failure"]))
            keys.append(part_keys)
            report.count += skipped.count
            report.examples.extend((at + line, why) for line, why in skipped.examples)
            progress.update(part.num_rows)
    del report.examples[report.keep:]
    if not parts:
        return listing.append_column(kind, pa.array([], pa.uint64())), KEYS.empty_table(), report
    return pa.concat_tables(parts), pa.concat_tables(keys), report


def near_duplicates(engine: Engine, train: pa.Table, evals: Mapping[str, pa.Table], max_distance: int,
                    column: str = "phash", shard_rows: int = 1 << 20) -> pa.Table:
    """`dedup_pairs(train, evals, ...)` with the training hashes in shards on `engine` and the
    evaluation hashes shared by all; the same sorted PAIRS table."""
    shared = PairsInputs(dict(evals), max_distance, column)
    found = list(engine.map(pairs_shard, slices(train, shard_rows), shared))
    pairs = pa.concat_tables(found) if found else PAIRS.empty_table()
    return pairs.sort_by([(name, "ascending") for name in PAIRS.names])
