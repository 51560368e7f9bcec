"""The Dask engine: LocalEngine's `map` contract on a dask.distributed cluster.

`DaskEngine(scheduler, workers)` connects to a running scheduler (`tcp://host:port`) or
starts a LocalCluster of `workers` processes (all cores when workers <= 0) with one
thread each: the stage functions are numpy/pyarrow code that holds the GIL much of the
time, so processes scale where threads would not.

How `map(fn, tasks, shared)` moves data (fn runs as `fn(task, shared)`):
- each task is scattered straight to a worker and runs there, so its data (a partition:
  megabytes) never passes through the scheduler; at most `in_flight` tasks are submitted
  but not yet yielded, so memory stays bounded whatever the number of tasks;
- the `shared` value (one object: a stage's frozen dataclass of arrays and settings) is
  scattered once; a worker fetches it from a peer the first time
  one of its tasks needs it and keeps it for the rest of the map. It is not broadcast:
  `Client.replicate` logs an event holding WorkerState objects on the "all" topic, which
  breaks every client subscribed to that topic (distributed 2026.8.0), and this engine
  subscribes to it to learn which tasks lost their worker;
- results are yielded in task order.

Fault tolerance, and what it asks of stage functions:
- a task whose worker dies (killed, out of memory, lost node) runs again: the scheduler
  re-runs it elsewhere while its inputs survive, up to its `allowed-failures` limit
  (`retries` for a LocalCluster; then the map fails with KilledWorker, so a task that kills
  every worker it touches is not tried forever); if inputs died with the worker, this
  engine scatters them again from its own copy and resubmits the task;
- a task that raises is resubmitted, except on MlbuildError (bad input does not get better
  by trying again); a task is resubmitted at most `retries` times.
So a task may run more than once, or partly run and then run again: stage functions must
write their outputs atomically and deterministically, so that a re-run writes the same
bytes. Every re-run is recorded in `retried` and summarized on stderr after the map.
"""
from __future__ import annotations

import logging
import os
import sys
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

from mlbuild.errors import MlbuildError

T = TypeVar("T")
S = TypeVar("S")
R = TypeVar("R")

try:
    import distributed
    from distributed.client import FutureCancelledError
    from distributed.scheduler import KilledWorker
except ImportError as err:  # pragma: no cover - exercised only without the extra
    raise MlbuildError("the dask engine needs the optional extra: pip install 'mlbuild[dask]'") from err


@dataclass(frozen=True)
class Retry:
    """One re-run of a task: its index in the map call and why it ran again."""

    task: int
    reason: str


@dataclass
class _Job:
    """A task, its current submission, and the keys of the data that submission depends on."""

    index: int
    task: Any
    name: str
    future: distributed.Future | None = None
    inputs: dict[str, distributed.Future] = field(default_factory=dict)
    failures: int = 0

    @property
    def key(self) -> str:
        """The current submission's key: a resubmission needs a new one."""
        return f"{self.name}-retry{self.failures}" if self.failures else self.name


class DaskEngine:
    """Runs fn(task, shared) over tasks on a Dask cluster; results in task order."""

    shares_memory = False  # workers are other processes, maybe other machines

    def __init__(self, scheduler: str | None = None, workers: int = 0, retries: int = 3,
                 in_flight: int | None = None, threads_per_worker: int = 1) -> None:
        self.retries, self.in_flight = retries, in_flight
        self.retried: list[Retry] = []
        self._lost: dict[str, str] = {}  # key -> worker that died holding it (task or data)
        self._cluster: distributed.LocalCluster | None = None
        if scheduler:
            self.client = distributed.Client(scheduler)
        else:
            self._cluster = distributed.LocalCluster(
                n_workers=workers if workers > 0 else os.cpu_count() or 1,
                threads_per_worker=threads_per_worker, processes=True, dashboard_address=None,
                silence_logs=logging.ERROR, scheduler_kwargs={"allowed_failures": retries})
            self.client = distributed.Client(self._cluster)
        self.client.subscribe_topic("all", self._on_event)

    def map(self, fn: Callable[[T, S], R], tasks: Iterable[T], shared: S) -> Iterator[R]:
        """Yield fn(task, shared) for each task, in task order (waits for a first worker).

        At most `in_flight` tasks (default: twice the cluster's threads when the map starts)
        are submitted and not yet yielded.
        """
        self.client.wait_for_workers(1)
        handles = self._scatter(shared)
        window = self.in_flight or max(2, 2 * sum(self.client.nthreads().values()))
        prefix = f"{getattr(fn, '__name__', 'task')}-{uuid.uuid4().hex[:8]}"
        before = len(self.retried)
        pending: deque[_Job] = deque()
        try:
            for index, task in enumerate(tasks):
                pending.append(self._submit(fn, _Job(index, task, f"{prefix}-{index}"), handles))
                if len(pending) >= window:
                    yield self._result(pending.popleft(), fn, shared, handles)
            while pending:
                yield self._result(pending.popleft(), fn, shared, handles)
        finally:
            self.client.cancel([job.future for job in pending])
            self._report(self.retried[before:])

    def close(self) -> None:
        """Disconnect; shut down the LocalCluster if this engine started it."""
        self.client.unsubscribe_topic("all")
        self.client.close()
        if self._cluster is not None:
            self._cluster.close()
            self._cluster = None

    def __enter__(self) -> DaskEngine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _scatter(self, shared: object) -> dict[str, distributed.Future]:
        """The shared value into the cluster, once (workers fetch it from peers when needed):
        {"shared": its future}, or {} for None (passed as is)."""
        return {} if shared is None else {"shared": self._put([shared])[0]}

    def _put(self, values: list[Any]) -> list[distributed.Future]:
        """Scatter values to workers; try again while a worker that just died is still listed."""
        for attempt in range(self.retries):
            try:
                return self.client.scatter(values, hash=False)
            except OSError:  # CommClosedError: the chosen worker is gone
                time.sleep(0.25 * 2 ** attempt)
        return self.client.scatter(values, hash=False)

    def _submit(self, fn: Callable[..., Any], job: _Job, handles: dict[str, distributed.Future]) -> _Job:
        """Scatter the task to a worker (directly, not through the scheduler) and run fn on it."""
        [payload] = self._put([job.task])
        job.inputs = {payload.key: payload, **{f.key: f for f in handles.values()}}
        job.future = self.client.submit(_call, fn, payload, handles.get("shared"), key=job.key, pure=False)
        return job

    def _result(self, job: _Job, fn: Callable[..., Any], shared: object,
                handles: dict[str, distributed.Future]) -> Any:
        """The job's result, resubmitting it after a failure it may recover from."""
        while True:
            try:
                result = job.future.result()
            except (MlbuildError, KilledWorker):
                raise
            except Exception as err:
                reason = self._retry_reason(job, err, shared, handles)
                if reason is None or job.failures >= self.retries:
                    raise
                # The failed future keeps err; its traceback would keep this frame, and every
                # future the frame refers to, alive in the cluster for the client's lifetime.
                err.__traceback__ = None
            else:
                if job.key in self._lost:
                    self.retried.append(Retry(job.index, f"{self._lost.pop(job.key)} while running it"))
                return result
            job.failures += 1
            self.retried.append(Retry(job.index, reason))
            self._submit(fn, job, handles)

    def _retry_reason(self, job: _Job, err: Exception, shared: object,
                      handles: dict[str, distributed.Future]) -> str | None:
        """Why the job may run again after err (None: it may not); re-scatters lost shared data."""
        if not isinstance(err, FutureCancelledError):
            return f"{type(err).__name__}: {err}"
        lost = [key for key in job.inputs if key in self._lost]
        if not lost:
            return None  # cancelled for another reason: not ours to undo
        if any(f.key in lost for f in handles.values()):
            handles.update(self._scatter(shared))  # in place: later jobs resubmit with the new copies
        return f"{self._lost[lost[0]]} holding its inputs"

    def _on_event(self, event: tuple[float, Any]) -> None:
        """Scheduler events: note the tasks and data that were on a worker when it left."""
        msg = event[1]
        if not isinstance(msg, dict) or msg.get("action") != "remove-worker":
            return
        why = f"worker {msg.get('worker')} {'left' if msg.get('expected') else 'died'}"
        for group in ("processing-tasks", "lost-computed-tasks", "lost-scattered-tasks"):
            for key in msg.get(group, ()):
                self._lost.setdefault(str(key), why)

    @staticmethod
    def _report(retried: list[Retry]) -> None:
        if retried:
            shown = "; ".join(f"task {r.task}: {r.reason}" for r in retried[:5])
            more = ", ..." if len(retried) > 5 else ""
            print(f"dask: {len(retried)} task re-run(s) ({shown}{more})", file=sys.stderr)


def _call(fn: Callable[[T, S], R], task: T, shared: S) -> R:
    """Worker side: fn(task, shared); the task and the shared value arrive as resolved futures."""
    return fn(task, shared)
