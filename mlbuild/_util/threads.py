"""Ordered, bounded parallel map over an iterator, in threads.

pyarrow and numpy release the GIL in their kernels, so per-batch work in threads uses
every core without copying data between processes. Results come back in input order
(outputs stay deterministic) and at most `workers` items are in flight beyond the one
being consumed, so memory stays bounded however long the input is.
"""
from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from itertools import islice
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


def ordered_map(fn: Callable[[T], R], items: Iterable[T], workers: int = 2) -> Iterator[R]:
    """fn(item) for every item, computed `workers` at a time in threads, yielded in order."""
    with ThreadPoolExecutor(workers) as pool:
        submitted = (pool.submit(fn, item) for item in items)
        pending: deque[Future] = deque(islice(submitted, workers))
        while pending:
            result = pending.popleft().result()
            pending.extend(islice(submitted, 1))
            yield result
