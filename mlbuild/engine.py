"""Executors for the stages that scale with the data: functions mapped over partitions.

A stage hands the engine a picklable function and a list of tasks; the engine runs
them and yields results in task order, so outputs never depend on which engine or
how many workers ran them. `local` runs in this process (workers=1) or a process
pool; `dask` (optional extra) runs on a dask.distributed cluster. Stage functions
know nothing about the engine.
"""
from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from typing import Any, Callable, Iterable, Iterator, Protocol


class Engine(Protocol):
    """Runs fn over tasks and yields the results in task order."""

    def map(self, fn: Callable[[Any], Any], tasks: Iterable[Any]) -> Iterator[Any]: ...

    def close(self) -> None: ...


class LocalEngine:
    """In-process (workers=1) or a fork-based process pool; at most 2x workers tasks in flight."""

    def __init__(self, workers: int = 1) -> None:
        self.workers = max(1, workers)
        self._pool: ProcessPoolExecutor | None = None

    def map(self, fn: Callable[[Any], Any], tasks: Iterable[Any]) -> Iterator[Any]:
        if self.workers == 1:
            yield from map(fn, tasks)
            return
        if self._pool is None:
            context = multiprocessing.get_context("fork")
            self._pool = ProcessPoolExecutor(self.workers, mp_context=context)
        pending: list = []
        for task in tasks:
            pending.append(self._pool.submit(fn, task))
            if len(pending) >= 2 * self.workers:
                yield pending.pop(0).result()
        for future in pending:
            yield future.result()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None


def make_engine(name: str = "local", workers: int = 1, scheduler: str | None = None) -> Engine:
    """An engine by name: "local" or "dask" (the latter needs `pip install mlbuild[dask]`)."""
    if name == "local":
        return LocalEngine(workers)
    if name == "dask":
        from mlbuild.dask_engine import DaskEngine  # imported only when asked for
        return DaskEngine(scheduler=scheduler, workers=workers)
    raise ValueError(f"unknown engine {name!r}: use 'local' or 'dask'")
