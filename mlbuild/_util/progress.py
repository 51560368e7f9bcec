"""A small progress reporter for long stages (stderr, rate-limited, no dependency).

Prints `label: done/total (pct) rate/s` at most every `interval` seconds when
stderr is a terminal or MLBUILD_PROGRESS=1, and always a final line.
"""
from __future__ import annotations

import os
import sys
import time
from types import TracebackType


class Progress:
    """Counts units of work and reports rate; use as a context manager."""

    def __init__(self, label: str, total: int | None = None, unit: str = "rows",
                 interval: float = 1.0, enabled: bool | None = None) -> None:
        self.label, self.total, self.unit, self.interval = label, total, unit, interval
        if enabled is None:
            enabled = sys.stderr.isatty() or os.environ.get("MLBUILD_PROGRESS") == "1"
        self.enabled = enabled and os.environ.get("MLBUILD_PROGRESS") != "0"
        self.done = 0
        self.start = self.last = time.monotonic()

    def update(self, n: int = 1) -> None:
        """Add n finished units; print if the interval has passed."""
        self.done += n
        now = time.monotonic()
        if self.enabled and now - self.last >= self.interval:
            self.last = now
            self._print(final=False)

    def _print(self, final: bool) -> None:
        elapsed = max(time.monotonic() - self.start, 1e-9)
        rate = self.done / elapsed
        of = f"/{self.total:,}" if self.total else ""
        pct = f" ({100 * self.done / self.total:.0f}%)" if self.total else ""
        end = "\n" if final else "\r"
        sys.stderr.write(f"{self.label}: {self.done:,}{of} {self.unit}{pct} "
                         f"{rate:,.0f}/s {elapsed:.1f}s{end}")
        sys.stderr.flush()

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self.enabled:
            self._print(final=True)
