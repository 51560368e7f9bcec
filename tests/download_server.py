"""A real aiohttp server on 127.0.0.1 for the downloader tests: images and real failures.

Files are registered by name with their bytes and behaviour (`Page`); every request is
counted per path, with its time, so tests can check retries, waits and "never fetched
twice". Runs its own event loop in a daemon thread, on a random free port.
"""
from __future__ import annotations

import asyncio
import io
import struct
import threading
import time
import zlib
from collections import Counter, defaultdict
from dataclasses import dataclass, field

from aiohttp import web
from PIL import Image


def jpeg_bytes(seed: int, size: tuple[int, int] = (64, 48), quality: int = 90) -> bytes:
    """A real JPEG whose pixels depend on `seed`."""
    img = Image.new("RGB", size, ((seed * 37) % 256, (seed * 91) % 256, (seed * 53) % 256))
    img.putpixel((seed % size[0], 0), (255, 255, 255))
    out = io.BytesIO()
    img.save(out, "JPEG", quality=quality)
    return out.getvalue()


def png_bytes(size: tuple[int, int] = (40, 30), color: tuple[int, int, int] = (10, 200, 30),
              mode: str = "RGB") -> bytes:
    """A real PNG."""
    out = io.BytesIO()
    Image.new(mode, size, color if mode == "RGB" else 128).save(out, "PNG")
    return out.getvalue()


def png_declaring(width: int, height: int) -> bytes:
    """A tiny PNG whose header declares width x height (a decompression bomb)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64))
            + chunk(b"IEND", b""))


@dataclass
class Page:
    """What the server answers for one path."""

    body: bytes = b""
    content_type: str | None = "image/jpeg"
    status: int = 200
    headers: dict = field(default_factory=dict)
    delay: float = 0.0                 # before the headers
    fail_first: int = 0                # answer `fail_status` to the first N requests
    fail_status: int = 503
    retry_after: str | None = None     # Retry-After sent with the failures
    mode: str = "normal"               # normal, stall (half body then silence), truncate, chunked
    redirect: str | None = None        # Location (relative to the server) with status 302
    held: bool = False                 # answered only once `ImageServer.release_held()` was called


class ImageServer:
    """The server: `add(path, Page)`, `url(path)`, `hits[path]`, `times[path]`, `max_in_flight`."""

    def __init__(self) -> None:
        self.pages: dict[str, Page] = {}
        self.hits: Counter = Counter()
        self.times: dict[str, list[float]] = defaultdict(list)
        self.user_agents: list[str] = []
        self.in_flight = self.max_in_flight = 0
        self._lock = threading.Lock()
        self._ready = threading.Event()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self.port = 0

    def add(self, path: str, page: Page) -> str:
        """Register a page; returns its URL."""
        self.pages[path] = page
        return self.url(path)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}/{path}"

    def hit_count(self, path: str) -> int:
        with self._lock:
            return self.hits[path]

    def start(self) -> ImageServer:
        self._thread.start()
        self._ready.wait(10)
        return self

    def release_held(self) -> None:
        """Answer the held pages' waiting requests, and every later one at once."""
        self._loop.call_soon_threadsafe(self._released.set)

    def stop(self) -> None:
        self.release_held()
        self._loop.call_soon_threadsafe(self._stopping.set)
        self._thread.join(10)

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(self._main())

    async def _main(self) -> None:
        self._stopping, self._released = asyncio.Event(), asyncio.Event()
        app = web.Application()
        app.router.add_route("GET", "/{path:.*}", self._handle)
        runner = web.AppRunner(app, access_log=None, handler_cancellation=True, shutdown_timeout=0.5)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]
        self._ready.set()
        await self._stopping.wait()
        await runner.cleanup()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        self.in_flight += 1  # only the server thread touches these two
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            return await self._answer(request)
        finally:
            self.in_flight -= 1

    async def _answer(self, request: web.Request) -> web.StreamResponse:
        path = request.match_info["path"]
        with self._lock:
            self.hits[path] += 1
            count = self.hits[path]
            self.times[path].append(time.monotonic())
            self.user_agents.append(request.headers.get("User-Agent", ""))
        page = self.pages.get(path)
        if page is None:
            return web.Response(status=404, text="not found")
        if page.delay:
            await asyncio.sleep(page.delay)
        if page.held:
            await self._released.wait()
        if count <= page.fail_first:
            headers = {"Retry-After": page.retry_after} if page.retry_after else {}
            return web.Response(status=page.fail_status, headers=headers, text="try later")
        if page.redirect is not None:
            raise web.HTTPFound(location=page.redirect)
        headers = dict(page.headers)
        if page.content_type:
            headers["Content-Type"] = page.content_type
        if page.mode == "normal":
            return web.Response(status=page.status, body=page.body, headers=headers)
        return await self._stream(request, page, headers)

    async def _stream(self, request: web.Request, page: Page, headers: dict) -> web.StreamResponse:
        resp = web.StreamResponse(status=page.status, headers=headers)
        if page.mode != "chunked":
            resp.content_length = len(page.body)
        await resp.prepare(request)
        if page.mode == "chunked":
            for start in range(0, len(page.body), 4096):
                await resp.write(page.body[start:start + 4096])
            await resp.write_eof()
            return resp
        await resp.write(page.body[:len(page.body) // 2])
        if page.mode == "stall":
            await asyncio.sleep(5)
        request.transport.close()  # truncate: fewer bytes than Content-Length, then hang up
        return resp
