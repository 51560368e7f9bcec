"""Run the download on several processes: one event loop each, fed from one input stream.

One event loop tops out at about one core (HTTP parsing, syscalls and bookkeeping hold
the GIL), so `processes` loops run side by side. This process reads and filters the
input and puts the pending rows, 128 at a time, on a small bounded queue (memory stays
bounded); each worker pulls rows as it has room (so all finish together), downloads with
its share of the limits (`DownloadConfig.per_process`) and its own journal
`journal/local-<i>.jsonl`, and relays progress. A worker whose parent dies (even by kill -9) exits at once
(`mlbuild._util.lifeline`): its journal is consistent at every instant, so the next run
resumes from it.
"""
from __future__ import annotations

import multiprocessing as mp
import os
import pickle
import queue
import traceback
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa

from mlbuild._util.lifeline import die_with_parent
from mlbuild.errors import MlbuildError
from mlbuild.images.download.config import DownloadConfig
from mlbuild.images.download.journal import Journal
from mlbuild.images.download.runner import Counts, Runner, Totals
from mlbuild.images.download.state import not_done
from mlbuild.images.download.validate import Hasher

_POLL = 0.2  # seconds between checks that the workers are alive
# Rows per message to a worker. Workers pull work as they have room, so they finish within
# about one part of each other; whole input batches (2,048 rows) left one worker alone on
# the last batch for a fifth of a 10,000-image run.
_PART_ROWS = 128


def journal_name(index: int) -> str:
    """The journal file of local worker `index`."""
    return f"local-{index}.jsonl"


def run_in_processes(batches: Iterator[pa.RecordBatch], done: np.ndarray, config: DownloadConfig,
                     out_dir: Path, hasher: Hasher | None, progress: Counts, spool: bool) -> Totals:
    """Download `batches` (minus `done`) on `config.process_count` worker processes (`spool`: see Runner)."""
    try:
        pickle.dumps(hasher)
    except (pickle.PicklingError, AttributeError, TypeError) as err:
        raise MlbuildError("with processes > 1 the hasher must be picklable (a module-level "
                           f"function such as mlbuild.images.phash.phash_int): {err}") from err
    n = config.process_count
    ctx = mp.get_context("spawn")  # fresh interpreters: safe with threads, same on every OS
    inbox, outbox = ctx.Queue(maxsize=2 * n), ctx.Queue()
    workers = [ctx.Process(target=_worker, daemon=True, name=f"mlbuild-download-{i}",
                           args=(i, inbox, outbox, config.per_process(), out_dir, hasher, spool, os.getpid()))
               for i in range(n)]
    for worker in workers:
        worker.start()
    totals, pump = Totals(), _Pump(outbox, workers, progress)
    try:
        for batch in batches:
            todo = not_done(batch, done)
            totals.resumed += batch.num_rows - todo.num_rows
            progress.update(batch.num_rows - todo.num_rows)
            for part in parts(todo, _PART_ROWS):
                pump.put(inbox, part, totals)
        for _ in workers:
            pump.put(inbox, None, totals)
        while pump.running:
            pump.drain(totals, block=True)
    finally:
        for worker in workers:
            if worker.is_alive():
                worker.terminate()
            worker.join()
    return totals


def parts(batch: pa.RecordBatch, rows: int) -> Iterator[pa.RecordBatch]:
    """`batch` in consecutive pieces of at most `rows` rows, each with its own buffers (a
    pickled slice would carry its whole parent)."""
    for start in range(0, batch.num_rows, rows):
        yield batch.take(pa.array(np.arange(start, min(start + rows, batch.num_rows))))


class _Pump:
    """The parent's side: feed the inbox, relay progress, notice dead workers."""

    def __init__(self, outbox: mp.Queue, workers: list, progress: Counts) -> None:
        self.outbox, self.workers, self.progress = outbox, workers, progress
        self.running = len(workers)

    def put(self, inbox: mp.Queue, item: pa.RecordBatch | None, totals: Totals) -> None:
        while True:
            try:
                inbox.put(item, timeout=_POLL)
                return
            except queue.Full:
                self.drain(totals, block=False)

    def drain(self, totals: Totals, block: bool) -> None:
        """Handle the workers' messages; raise if one failed or died."""
        try:
            while True:
                kind, *payload = self.outbox.get(timeout=_POLL if block else 0.0)
                if kind == "progress":
                    self.progress.update(payload[0])
                elif kind == "done":
                    totals.add(payload[0])
                    self.running -= 1
                else:
                    raise MlbuildError(f"a download worker failed: {payload[0]}")
                block = False
        except queue.Empty:
            pass
        dead = [w for w in self.workers if w.exitcode not in (None, 0)]
        if dead:
            raise MlbuildError(f"download worker {dead[0].name} died (exit code {dead[0].exitcode})")


class _Relay:
    """A worker's progress counter: forwards counts to the parent in small messages."""

    def __init__(self, outbox: mp.Queue, every: int = 64) -> None:
        self.outbox, self.every, self.pending = outbox, every, 0

    def update(self, n: int = 1) -> None:
        self.pending += n
        if self.pending >= self.every:
            self.flush()

    def flush(self) -> None:
        if self.pending:
            self.outbox.put(("progress", self.pending))
            self.pending = 0


def _worker(index: int, inbox: mp.Queue, outbox: mp.Queue, config: DownloadConfig, out_dir: Path,
            hasher: Hasher | None, spool: bool, parent_pid: int) -> None:
    """Worker process: download batches from the inbox until a None arrives."""
    die_with_parent(parent_pid)
    try:
        relay = _Relay(outbox)
        with Journal(Path(out_dir) / "journal" / journal_name(index), config.fsync_interval) as journal:
            runner = Runner(config, out_dir, journal, hasher, relay, spool)
            runner.execute(iter(inbox.get, None), np.empty(0, dtype=np.uint64))
        relay.flush()
        outbox.put(("done", runner.totals))
    except MlbuildError as err:  # a clear error (disk full, ...): its one line, no traceback
        outbox.put(("error", str(err)))
    except Exception:  # noqa: BLE001 - any failure goes to the parent, which raises it
        outbox.put(("error", traceback.format_exc()))
