"""Worker processes die with the process that started them, however it dies (even `kill -9`).

A forked pool worker blocks on a pipe whose write end its siblings also hold, so it never sees
the parent go; left alone it would live on (and keep its memory) forever. `die_with_parent`,
called first thing in a worker, asks Linux to SIGKILL it when its parent dies
(`prctl(PR_SET_PDEATHSIG)`; Linux sends it when the thread that started the worker ends, so
workers are started from the thread that waits for them), and, as a fallback on every OS,
watches in a daemon thread for its parent pid to change. Everything workers write is atomic
or journaled, so being killed at any instant is safe.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import os
import signal
import sys
import threading
import time

PR_SET_PDEATHSIG = 1
POLL_SECONDS = 0.5


def die_with_parent(parent_pid: int) -> None:
    """Make this process exit as soon as process `parent_pid` (its parent) is gone."""
    _set_parent_death_signal()
    if os.getppid() != parent_pid:  # the parent died before the signal was armed
        os._exit(1)
    threading.Thread(target=_watch, args=(parent_pid,), name="mlbuild-lifeline", daemon=True).start()


def _set_parent_death_signal() -> bool:
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
        return libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _watch(parent_pid: int) -> None:
    while os.getppid() == parent_pid:
        time.sleep(POLL_SECONDS)
    os._exit(1)
