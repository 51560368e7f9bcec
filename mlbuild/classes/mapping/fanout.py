"""Map a long list of distinct names or tags on several forked processes, results in list order.

A name's mapping depends on the name, its own context and the mapper (with a list's coherence
in the second pass), never on the other names of a chunk, so cutting the list into chunks and
mapping them in forked workers (`mlbuild.engines.local.LocalEngine`) gives the same answers as
one process, whatever the worker count. Workers inherit the parent's loaded lexicon; build its
lazy indexes first (`Lexicon.load_indexes`) or each worker builds its own.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

from mlbuild.engines.local import LocalEngine

T = TypeVar("T")  # one item to map
S = TypeVar("S")  # what every chunk shares (the mapper)
R = TypeVar("R")  # one item's answer

MIN_PARALLEL = 2_000   # shorter lists are mapped in this process: forking would cost more than it saves
CHUNKS_PER_WORKER = 4  # a few chunks each, so a slow chunk does not leave the other workers idle


def map_chunked(fn: Callable[[Sequence[T], S], list[R]], items: Sequence[T], shared: S, workers: int) -> list[R]:
    """fn(chunk, shared) over chunks of items on `workers` processes (0: one per core), concatenated."""
    engine = LocalEngine(workers)
    if engine.workers == 1 or len(items) < MIN_PARALLEL:
        return fn(items, shared)
    size = -(-len(items) // (engine.workers * CHUNKS_PER_WORKER))
    chunks = [items[i:i + size] for i in range(0, len(items), size)]
    return [answer for part in engine.map(fn, chunks, shared) for answer in part]
