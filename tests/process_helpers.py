"""Processes of a test: the children of a process, waiting for them to be gone (Linux /proc), and
a command run with a tiny filesystem of its own (a user and mount namespace)."""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


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


def in_small_filesystem(tmp_path: Path, script: str, size: str = "32k") -> subprocess.CompletedProcess:
    """Run `script` (sh) with $FS a fresh tmpfs of `size` (too small for the sample build), $MLBUILD
    the command line, in a private user and mount namespace (nothing mounted outside it)."""
    if not shutil.which("unshare"):
        pytest.skip("unshare is not available")
    fs = tmp_path / "fs"
    fs.mkdir()
    mount = f"mount -t tmpfs -o size={size} tmpfs {fs}"
    probe = subprocess.run(["unshare", "-rm", "sh", "-c", mount], capture_output=True)
    if probe.returncode:
        pytest.skip(f"cannot mount a tmpfs in a user namespace: {probe.stderr.decode().strip()}")
    cmd = f"{mount} && FS={fs} PYTHONPATH={REPO} MLBUILD=\"{sys.executable} -m mlbuild\" sh -c '{script}'"
    return subprocess.run(["unshare", "-rm", "sh", "-c", cmd], capture_output=True, text=True, timeout=120)
