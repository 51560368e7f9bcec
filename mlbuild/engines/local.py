"""Executors for the stages that scale with the data: functions mapped over partitions.

A stage hands the engine a picklable function, a list of tasks and the inputs every task
shares (`shared`: one value, typically a frozen dataclass of the stage such as
`mlbuild.pipeline.PartShared`, shipped to each worker once, not once per task; None when
there are none). The engine runs `fn(task, shared)` and yields results in task order, so
outputs never depend on which engine or how many workers ran them. `local` runs in this
process (workers=1) or a fork-based process pool; `dask` (optional extra) runs on a
dask.distributed cluster. Stage functions know nothing about the engine.
"""
from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Any, Protocol, TypeVar

from mlbuild._util.lifeline import die_with_parent

T = TypeVar("T")  # a task
S = TypeVar("S")  # what every task shares
R = TypeVar("R")  # a task's result


class Engine(Protocol):
    """Runs fn(task, shared) over tasks and yields the results in task order."""

    def map(self, fn: Callable[[T, S], R], tasks: Iterable[T], shared: S) -> Iterator[R]: ...

    def close(self) -> None: ...

    #: True when workers see the driver's memory (in-process or forked): big `shared`
    #: inputs cost nothing to pass, so tasks can be positions into them.
    shares_memory: bool


class LocalEngine:
    """In-process (workers=1) or a fork-based process pool (0: one process per core); at most
    2x workers tasks in flight.

    The pool is started per `map` call, after `shared` is known, so forked workers
    inherit the shared inputs instead of receiving them pickled with every task. Workers
    exit when this process dies, however it dies (`mlbuild._util.lifeline`).
    """

    shares_memory = True  # workers see the driver's memory: shared inputs cost nothing to pass

    def __init__(self, workers: int = 0) -> None:
        self.workers = workers if workers > 0 else os.cpu_count() or 1

    def map(self, fn: Callable[[T, S], R], tasks: Iterable[T], shared: S) -> Iterator[R]:
        """Yield fn(task, shared) for each task, in task order."""
        if self.workers == 1:
            for task in tasks:
                yield fn(task, shared)
            return
        context = multiprocessing.get_context("fork")
        pool = ProcessPoolExecutor(self.workers, mp_context=context, initializer=_install_shared,
                                   initargs=(shared, os.getpid()))
        try:
            pending: list[Future[R]] = []
            for task in tasks:
                pending.append(pool.submit(_call_with_shared, fn, task))
                if len(pending) >= 2 * self.workers:
                    yield pending.pop(0).result()
            for future in pending:
                yield future.result()
        finally:
            pool.shutdown(cancel_futures=True)

    def close(self) -> None:
        """Nothing to release: pools live only as long as one `map` call."""


_SHARED: Any = None


def _install_shared(shared: object, parent_pid: int) -> None:
    """Pool initializer: exit with the parent; keep the shared inputs (inherited by fork)."""
    global _SHARED
    die_with_parent(parent_pid)
    _SHARED = shared


def _call_with_shared(fn: Callable[[T, Any], R], task: T) -> R:
    return fn(task, _SHARED)


def make_engine(name: str = "local", workers: int = 0, scheduler: str | None = None) -> Engine:
    """An engine by name: "local" or "dask" (the latter needs `pip install mlbuild[dask]`)."""
    if name == "local":
        return LocalEngine(workers)
    if name == "dask":
        from mlbuild.engines.distributed import DaskEngine  # imported only when asked for
        return DaskEngine(scheduler=scheduler, workers=workers)
    raise ValueError(f"unknown engine {name!r}: use 'local' or 'dask'")
