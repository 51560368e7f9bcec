"""Concurrency limits for the downloader: a global cap, a per-host cap, and per-host pauses.

A request first takes a slot of its host, then waits out any pause the host asked for
(429/503 with Retry-After), and only then takes a global slot: requests queued behind a
busy or paused host never hold global slots that other hosts could use. A host entry is
dropped when its last user leaves (unless a pause is still running), so memory follows
the hosts in flight, not all hosts ever seen.
"""
from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager


class _Host:
    __slots__ = ("slots", "users", "resume_at")

    def __init__(self, per_host: int) -> None:
        self.slots = asyncio.Semaphore(per_host)
        self.users = 0
        self.resume_at = 0.0


class HostLimiter:
    """At most `total` requests in flight, at most `per_host` to one host."""

    def __init__(self, total: int, per_host: int) -> None:
        self._global = asyncio.Semaphore(total)
        self._per_host = per_host
        self._hosts: dict[str, _Host] = {}

    @asynccontextmanager
    async def slot(self, host: str) -> AsyncIterator[None]:
        """Hold one request slot for `host` for the duration of the block."""
        entry = self._hosts.get(host)
        if entry is None:
            entry = self._hosts[host] = _Host(self._per_host)
        entry.users += 1
        try:
            async with entry.slots:
                loop = asyncio.get_running_loop()
                while (wait := entry.resume_at - loop.time()) > 0:
                    await asyncio.sleep(wait)
                async with self._global:
                    yield
        finally:
            entry.users -= 1
            if entry.users == 0 and entry.resume_at <= asyncio.get_running_loop().time():
                del self._hosts[host]

    def pause(self, host: str, seconds: float) -> None:
        """Hold back new requests to `host` for `seconds` (its Retry-After)."""
        entry = self._hosts.get(host)
        if entry is not None:
            resume_at = asyncio.get_running_loop().time() + seconds
            entry.resume_at = max(entry.resume_at, resume_at)

    def hosts_in_use(self) -> int:
        """Number of hosts with requests waiting or in flight, or paused."""
        return len(self._hosts)
