"""Processes of a test: the children of a process, and waiting for them to be gone (Linux /proc)."""
from __future__ import annotations

import os
import signal
import time
from pathlib import Path


def proc_state(pid: int) -> tuple[str, int] | None:
    """(state letter, parent pid) of a live process from /proc, None once it is gone or a zombie."""
    try:
        state, ppid = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[:2]
    except (OSError, ValueError):
        return None
    return None if state in "ZX" else (state, int(ppid))


def child_pids(pid: int) -> list[int]:
    """The live processes whose parent is `pid`."""
    return [int(p.name) for p in Path("/proc").glob("[0-9]*")
            if (proc_state(int(p.name)) or ("", 0))[1] == pid]


def alive_after(pids: list[int], seconds: float) -> list[int]:
    """The processes of `pids` still running after waiting up to `seconds` for them to exit."""
    deadline = time.monotonic() + seconds
    while True:
        alive = [p for p in pids if proc_state(p) is not None]
        if not alive or time.monotonic() > deadline:
            for p in alive:  # never leave one behind, even when the test fails
                os.kill(p, signal.SIGKILL)
            return alive
        time.sleep(0.05)
