"""The download stage: stream rows in, fetch under limits, check, store, journal, summarize.

`download()` runs a whole input on this machine (`config.processes` event loops);
`download_shard()` runs one shard (a table of rows) in the calling process with its own
journal, so a distributed engine can run shards anywhere that sees the output folder. Both
resume: rows already in a journal are not fetched again (unless `config.retry` asks to redo
failures). Memory is bounded by the input batch size and `config.pending_limit`, whatever
the input length.

Output folder:
    images/abc/<id>.<ext>     the images that passed every check (see `store`)
    spool/<name>.spool        instead, with output_format webdataset or parquet: those images
                              appended to one file per journal (see `spool`)
    journal/<name>.jsonl      append-only results, one line per finished image
                              (local-<i>.jsonl: process i of `download`; <shard>.jsonl: a shard)
    results.parquet           latest result per image, sorted by image_id (RESULTS)
    shards/shard-NNNNN.tar    with output_format webdataset (or .parquet): the ok images in
                              image_id order, `shard_size` per shard, packed after the
                              download (`mlbuild.images.shard_writer`), with _stats.json each
"""
from __future__ import annotations

import re
import sys
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from mlbuild._util.ownership import claim_output_dir
from mlbuild._util.parquet import write_table
from mlbuild._util.progress import Progress
from mlbuild.errors import MlbuildError, SkipReport
from mlbuild.images.download.config import DownloadConfig
from mlbuild.images.download.inputs import normalize_batch
from mlbuild.images.download.journal import Journal, journal_paths
from mlbuild.images.download.processes import journal_name, run_in_processes
from mlbuild.images.download.results import OK, summarize
from mlbuild.images.download.runner import Runner, Totals
from mlbuild.images.download.spool import SpoolReader
from mlbuild.images.download.state import collect_results, done_hashes
from mlbuild.images.download.store import extension
from mlbuild.images.download.validate import Hasher
from mlbuild.images.shard_writer import ShardSummary, sample_key, write_shards

__all__ = ["DownloadConfig", "DownloadSummary", "download", "download_shard"]

_SHARD_NAME = re.compile(r"[A-Za-z0-9_.-]+")


@dataclass
class DownloadSummary:
    """What a run did, and the state of the whole output folder afterwards."""

    results: Path                 # results.parquet
    counts: dict[str, int]        # latest status of every image in the folder
    fetched: Counter = field(default_factory=Counter)  # statuses recorded by this run
    resumed: int = 0              # input rows skipped because a journal already had them
    skipped: SkipReport | None = None  # input rows without a URL
    bytes: int = 0                # bytes of the files stored by this run (after any resize)
    seconds: float = 0.0
    shards: ShardSummary | None = None  # with output_format webdataset or parquet

    def lines(self) -> list[str]:
        """A human summary: this run (rates, statuses), shards, then the folder's totals by status."""
        n = sum(self.fetched.values())
        secs = self.seconds or float("inf")
        out = [f"this run: {n:,} images in {self.seconds:.1f}s ({n / secs:,.1f} images/s, "
               f"{self.bytes / 2**20:,.1f} MiB stored, {self.bytes / 2**20 / secs:,.1f} MiB/s), "
               f"{self.resumed:,} already done"]
        if n:
            out.append("this run by status: " + ", ".join(
                f"{s} {c:,} ({100 * c / n:.1f}%)" for s, c in sorted(self.fetched.items(), key=lambda x: -x[1])))
        if self.skipped is not None and self.skipped.count:
            out.append(self.skipped.summary())
        if self.shards is not None:
            out.extend(self.shards.lines())
        total = sum(self.counts.values())
        out.append(f"all {total:,} images: " + ", ".join(f"{s} {c:,}" for s, c in self.counts.items()))
        return out


def download(batches: Iterable[pa.RecordBatch], config: DownloadConfig, out_dir: Path,
             hasher: Hasher | None = None, total: int | None = None) -> DownloadSummary:
    """Download every row of `batches` (image_id, url[, md5, size]) into `out_dir`; resumable.

    With `config.process_count > 1` the work runs in that many processes, and `hasher`
    must be picklable (a module-level function).
    """
    out_dir, start = claim_output_dir(Path(out_dir), "download"), time.monotonic()
    skipped = SkipReport("input")
    rows = _normalized(batches, skipped)
    spool = config.output_format != "files"  # the images are only kept to be packed
    with Progress("download", total=total, unit="images") as progress:
        if config.process_count > 1:
            done = done_hashes(journal_paths(out_dir), config.retry)
            totals = run_in_processes(rows, done, config, out_dir, hasher, progress, spool)
        else:
            totals = _run_here(rows, config, out_dir, journal_name(0), hasher, progress, every=True, spool=spool)
    table = collect_results(journal_paths(out_dir))
    shards = pack_results(table, config, out_dir)
    if shards is not None:  # the shards are where the images are (the spool is only the packer's)
        table = _in_shards(table, shards, "tar" if config.output_format == "webdataset" else "parquet")
    write_table(table, out_dir / "results.parquet")
    return DownloadSummary(out_dir / "results.parquet", summarize(table), totals.statuses,
                           totals.resumed, skipped, totals.stored_bytes, time.monotonic() - start, shards)


SHARD_META = ["image_id", "url", "sha256", "width", "height", "phash"]


def pack_results(results: pa.Table, config: DownloadConfig, out_dir: Path) -> ShardSummary | None:
    """With output_format webdataset/parquet: pack the ok images into `out_dir/shards` (resumable)."""
    if config.output_format == "files":
        return None
    ok = results.filter(pc.equal(results.column("status"), OK))
    rows = ok.select(SHARD_META + ["path", "offset", "stored_bytes", "stored_format"])
    rows = rows.append_column("key", pa.array([sample_key(i) for i in rows.column("image_id").to_pylist()],
                                              pa.string()))
    out_dir = Path(out_dir)
    with SpoolReader(out_dir) as spool:

        def load(row: dict[str, Any]) -> tuple[bytes, str]:
            if row["offset"] is None:  # a file of its own (stored by a run with output_format files)
                return (out_dir / row["path"]).read_bytes(), row["path"].rsplit(".", 1)[-1]
            return spool.read(row["path"], row["offset"], row["stored_bytes"]), extension(row["stored_format"])

        return write_shards(rows, load, out_dir / "shards", "shard", config.shard_size, config.output_format,
                            SHARD_META, threads=config.workers,
                            report=lambda line: print(line, file=sys.stderr))


def _in_shards(results: pa.Table, shards: ShardSummary, ext: str) -> pa.Table:
    """`results` with each ok image's `path` and `offset` naming its place in the shards (in
    image_id order, like the results); deterministic, unlike the spool's."""
    ok = pc.equal(results.column("status"), OK).to_numpy(zero_copy_only=False)
    at, missing = np.flatnonzero(ok), ~ok
    which = np.zeros(results.num_rows, np.int32)
    which[at] = np.repeat(np.arange(len(shards.shards), dtype=np.int32), [s.count for s in shards.shards])
    names = pa.array([f"shards/{s.shard}.{ext}" for s in shards.shards], pa.string())
    columns = {"path": names.take(pa.array(which, mask=missing)), "offset": pa.nulls(results.num_rows, pa.int64())}
    if ext == "tar":
        offsets = np.zeros(results.num_rows, np.int64)
        offsets[at] = np.concatenate([np.asarray(s.offsets or (), np.int64) for s in shards.shards]
                                     + [np.empty(0, np.int64)])
        columns["offset"] = pa.array(offsets, mask=missing)
    for name, column in columns.items():
        results = results.set_column(results.schema.get_field_index(name), name, column)
    return results


def download_shard(rows: pa.Table | pa.RecordBatch, config: DownloadConfig, out_dir: Path,
                   shard: str, hasher: Hasher | None = None) -> pa.Table:
    """Download one shard in this process, with its own journal `journal/<shard>.jsonl`.

    Rerunning a shard resumes it (from its own journal). Returns one row per image of the
    shard (RESULTS schema, sorted by image_id); `collect_results` merges all shards.
    """
    if not _SHARD_NAME.fullmatch(shard) or shard.startswith("local-"):
        raise MlbuildError(f"shard name {shard!r} must match [A-Za-z0-9_.-]+ and not start with 'local-'")
    batches = rows.to_batches() if isinstance(rows, pa.Table) else [rows]
    with Progress(f"download {shard}", total=sum(b.num_rows for b in batches), unit="images") as progress:
        _run_here(_normalized(batches, SkipReport(shard)), config, Path(out_dir), f"{shard}.jsonl",
                  hasher, progress, every=False)
    return collect_results([Path(out_dir) / "journal" / f"{shard}.jsonl"])


def _run_here(batches: Iterator[pa.RecordBatch], config: DownloadConfig, out_dir: Path, name: str,
              hasher: Hasher | None, progress: Progress, every: bool, spool: bool = False) -> Totals:
    """Run in this process with journal `name`; resume from every journal or just this one."""
    with Journal(out_dir / "journal" / name, config.fsync_interval) as journal:
        done = done_hashes(journal_paths(out_dir) if every else [journal.path], config.retry)
        runner = Runner(config, out_dir, journal, hasher, progress, spool)
        runner.execute(batches, done)
    return runner.totals


def _normalized(batches: Iterable[pa.RecordBatch], skipped: SkipReport) -> Iterator[pa.RecordBatch]:
    first = 1
    for batch in batches:
        lines = np.arange(first, first + batch.num_rows)
        first += batch.num_rows
        yield normalize_batch(batch, "input row", lines, skipped)
