"""One event loop's worth of downloading: admit rows, fetch, check in threads, store, journal.

The loop thread does HTTP and bookkeeping; `workers` threads validate bodies (hashes,
Pillow decode, optional perceptual hash) and write the files, since decoding costs
milliseconds and Pillow releases the GIL while it decodes. Input batches are pulled in a
thread too, so reading and filtering a batch never stalls requests in flight. At most
`pending_limit` images are admitted and unfinished at once, which bounds memory.
"""
from __future__ import annotations

import asyncio
import threading
import warnings
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Protocol
from urllib.parse import urlsplit

import numpy as np
import pyarrow as pa
from PIL import Image

from mlbuild.errors import OutputError
from mlbuild.images.download.config import DownloadConfig
from mlbuild.images.download.http import Fetcher, open_session
from mlbuild.images.download.journal import Journal
from mlbuild.images.download.placeholders import load_placeholders
from mlbuild.images.download.resize import Encoded
from mlbuild.images.download.results import OK, ImageResult
from mlbuild.images.download.run_settings import run_settings
from mlbuild.images.download.spool import SpoolStore
from mlbuild.images.download.state import not_done
from mlbuild.images.download.store import ImageStore
from mlbuild.images.download.validate import Hasher, check_body

Row = tuple  # (image_id, url, md5, size)


class Counts(Protocol):
    """Where finished images are counted: `mlbuild._util.progress.Progress` or a relay to it."""

    def update(self, n: int = 1) -> None: ...


class Totals:
    """What a run did: statuses recorded, bytes stored, input rows skipped as already done."""

    def __init__(self) -> None:
        self.statuses: Counter = Counter()
        self.stored_bytes = 0
        self.resumed = 0

    def add(self, other: Totals) -> None:
        """Add another run's totals (a worker process's) to these."""
        self.statuses.update(other.statuses)
        self.stored_bytes += other.stored_bytes
        self.resumed += other.resumed


class _Handoff:
    """Runs jobs on a thread pool and wakes the event loop once per burst of completions.

    `run_in_executor` wakes the loop once per job (a write to its self-pipe from the worker,
    a syscall that cost ~15% of a check here); finished jobs are settled together instead.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, pool: ThreadPoolExecutor) -> None:
        self._loop, self._pool = loop, pool
        self._lock = threading.Lock()
        self._done: list[tuple[asyncio.Future, Exception | None]] = []

    def run(self, fn: Callable[..., None], *args: object) -> asyncio.Future:
        """Call fn(*args) on the pool; the returned future settles on the loop."""
        future = self._loop.create_future()
        self._pool.submit(self._call, future, fn, args)
        return future

    def _call(self, future: asyncio.Future, fn: Callable[..., None], args: tuple) -> None:
        error = None
        try:
            fn(*args)
        except Exception as err:  # noqa: BLE001 - re-raised in the awaiting task
            error = err
        with self._lock:
            self._done.append((future, error))
            wake = len(self._done) == 1
        if wake:
            self._loop.call_soon_threadsafe(self._settle)

    def _settle(self) -> None:
        with self._lock:
            done, self._done = self._done, []
        for future, error in done:
            if future.cancelled():
                continue
            if error is None:
                future.set_result(None)
            else:
                future.set_exception(error)


class Runner:
    """Downloads batches into `out_dir`, recording every finished image in `journal`.

    Images are stored as files of their own, or with `spool` appended to the journal's spool
    file (`spool.SpoolStore`: for downloads that end in shards)."""

    def __init__(self, config: DownloadConfig, out_dir: Path, journal: Journal,
                 hasher: Hasher | None, progress: Counts, spool: bool = False) -> None:
        self.config, self.journal, self.hasher, self.progress = config, journal, hasher, progress
        self.rules = load_placeholders(config.placeholders)
        self.store = (SpoolStore if spool else ImageStore)(out_dir, journal.path.stem)
        self.totals = Totals()
        self._finished: list[ImageResult] = []
        self._errors: list[BaseException] = []
        self._syncing: asyncio.Future | None = None

    def execute(self, batches: Iterator[pa.RecordBatch], done: np.ndarray) -> None:
        """Fetch every row of `batches` whose image_id hash is not in `done`."""
        with warnings.catch_warnings(), ThreadPoolExecutor(self.config.workers) as pool, \
                run_settings(self.config.workers):
            # Pillow warns (not raises) between 1x and 2x MAX_IMAGE_PIXELS: make it a status.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            try:
                asyncio.run(self._main(batches, done, pool))
            finally:
                self.store.close()

    @staticmethod
    def _next_rows(batches: Iterator[pa.RecordBatch], done: np.ndarray) -> tuple[list[Row], int] | None:
        """In a thread: the next batch's rows still to fetch and how many were done; None at the end."""
        batch = next(batches, None)
        if batch is None:
            return None
        todo = not_done(batch, done)
        rows = list(zip(*(todo.column(c).to_pylist() for c in ("image_id", "url", "md5", "size"))))
        return rows, batch.num_rows - todo.num_rows

    async def _main(self, batches: Iterator[pa.RecordBatch], done: np.ndarray,
                    pool: ThreadPoolExecutor) -> None:
        """Admit rows while fewer than pending_limit are unfinished; stop at the first error."""
        slots = asyncio.Semaphore(self.config.pending_limit)
        running: set[asyncio.Task] = set()
        errors = self._errors

        def finished(task: asyncio.Task) -> None:
            running.discard(task)
            slots.release()
            if not task.cancelled() and task.exception() is not None:
                errors.append(task.exception())

        loop = asyncio.get_running_loop()
        handoff = _Handoff(loop, pool)
        async with open_session(self.config) as session:
            fetcher = Fetcher(session, self.config, self.rules)
            try:
                while not errors:
                    step = await loop.run_in_executor(None, self._next_rows, batches, done)
                    if step is None:
                        break
                    rows, resumed = step
                    self.totals.resumed += resumed
                    self.progress.update(resumed)
                    for row in rows:
                        await slots.acquire()
                        if errors:
                            break
                        task = asyncio.create_task(self._one(fetcher, handoff, row))
                        running.add(task)
                        task.add_done_callback(finished)
                if running and not errors:
                    await asyncio.wait(set(running))
            finally:
                for task in running:
                    task.cancel()
                await asyncio.gather(*running, return_exceptions=True)
                self._record()
        if errors:
            raise errors[0]

    async def _one(self, fetcher: Fetcher, handoff: _Handoff, row: Row) -> None:
        image_id, url, md5, size = row
        result = ImageResult(image_id, url)
        body = await fetcher.fetch(result)
        if body is not None:
            await handoff.run(self._check_and_store, result, body, md5, size)
            if result.status == OK:
                self.totals.stored_bytes += result.stored_bytes
        self._finished.append(result)
        if len(self._finished) == 1:
            asyncio.get_running_loop().call_soon(self._record)

    def _record(self) -> None:
        """Journal the images finished during this loop iteration, with one write."""
        finished, self._finished = self._finished, []
        try:
            self.journal.append(finished)
        except OSError as err:  # disk full or failing: stop the run (these images get refetched)
            self._errors.append(OutputError(self.journal.path, err))
            return
        self.totals.statuses.update(r.status for r in finished)
        self.progress.update(len(finished))
        if self.journal.sync_due() and (self._syncing is None or self._syncing.done()):
            # fsync off the loop: with other writers on the disk it can take a long time
            self._syncing = asyncio.get_running_loop().run_in_executor(None, self.journal.sync)
            self._syncing.add_done_callback(
                lambda done: done.exception() and self._errors.append(done.exception()))

    def _check_and_store(self, result: ImageResult, body: bytes, md5: str | None,
                         size: int | None) -> None:
        """Worker thread: validate the bytes, then write the file before it is journaled."""
        host = urlsplit(result.final_url or result.url or "").hostname or ""
        check_body(result, body, md5, size, self.rules, host, self.config.pixel_limit, self.hasher,
                   self.config.resize)
        if result.status == OK:
            out, result.output = result.output, None
            if out is None:  # no resize: the original bytes
                out = Encoded(body, result.format, result.width, result.height)
            result.path, result.offset = self.store.save(result.image_id, out.format, out.data)
            result.stored_bytes, result.stored_format = len(out.data), out.format
            result.stored_width, result.stored_height = out.width, out.height
