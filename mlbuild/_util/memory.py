"""Keep the build's resident memory close to what it holds: freed memory goes back to the system.

Two allocators hold the build's data. Arrow buffers go through jemalloc, asked to return freed
pages after one second: pyarrow's default mimalloc pool keeps freed memory (1.3 GB more peak
at 23M images), and returning it at once faults every new buffer in again (twice the page
faults, ~15 s more system time at full scale). numpy's arrays of up to 32 MB come from glibc's
heap, which returns free pages only from its top; `trim` returns the ones in the middle too
(~0.9 GB after a full-scale ingest, whose label arrays arrive in ~1 MB batches).

Bulk work that creates millions of small long-lived Python objects and no reference cycles (the
name mapper's indexes and caches) runs with the cyclic garbage collector paused (`paused_gc`):
its collections would only traverse those objects again and again (~20% of name mapping's CPU);
reference counting still frees everything that is dropped. At the end of the block the process's
objects are frozen (`gc.freeze`: moved out of the collector's generations) before it is resumed:
otherwise its next collection traverses the millions of objects the block made at once (0.77 s
after mapping 20,000 tags), and forked workers' collections write to (and so copy) their pages.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import gc
from collections.abc import Iterator
from contextlib import contextmanager

import pyarrow as pa

ARROW_DECAY_MS = 1000


def use_lean_arrow_pool() -> None:
    """Arrow allocations through jemalloc with a short decay (a build without jemalloc keeps its pool)."""
    try:
        pa.set_memory_pool(pa.jemalloc_memory_pool())
        pa.jemalloc_set_decay_ms(ARROW_DECAY_MS)
    except NotImplementedError:
        pass


def _libc_trim():
    name = ctypes.util.find_library("c")
    try:
        return ctypes.CDLL(name).malloc_trim if name else None
    except (OSError, AttributeError):  # not glibc
        return None


_MALLOC_TRIM = _libc_trim()


def trim() -> None:
    """Return the C heap's free pages to the system (glibc; a no-op elsewhere)."""
    if _MALLOC_TRIM is not None:
        _MALLOC_TRIM(0)


@contextmanager
def paused_gc() -> Iterator[None]:
    """The cyclic garbage collector paused for the block (restored as it was, also when nested);
    what exists at its end is frozen (`gc.freeze`) before the collector resumes."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.freeze()
            gc.enable()
