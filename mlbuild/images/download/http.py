"""The HTTP side of the downloader: one aiohttp session, attempts with retries and backoff.

`Fetcher.fetch` turns a URL into a body or a typed failure on the `ImageResult`. Transient
failures (timeouts, resets, truncated bodies, 5xx, 429) are retried up to `max_attempts`
with exponential backoff and jitter; a Retry-After on 429/503 (seconds or HTTP date) is
honoured, and pauses the whole host, unless it exceeds `max_retry_after`. A request holds
its concurrency slot only while talking to the server, never while backing off.
"""
from __future__ import annotations

import asyncio
import email.utils
import random
import time
from datetime import UTC

import aiohttp
from yarl import URL

from mlbuild.images.download.config import DownloadConfig
from mlbuild.images.download.limits import HostLimiter
from mlbuild.images.download.placeholders import Placeholders
from mlbuild.images.download.results import OK, TRANSIENT, ImageResult
from mlbuild.images.download.validate import content_type_ok, http_status_failure, robots_opt_out

RETRIED = TRANSIENT - {"dns"}  # a name that does not resolve now will not resolve in a second


def open_session(config: DownloadConfig) -> aiohttp.ClientSession:
    """A client session with the config's timeouts and headers; no cookies are kept."""
    timeout = aiohttp.ClientTimeout(total=config.total_timeout, sock_connect=config.connect_timeout,
                                    sock_read=config.read_timeout)
    connector = aiohttp.TCPConnector(limit=config.concurrency, ttl_dns_cache=300)
    headers = {"User-Agent": config.user_agent, "Accept": "image/*,*/*;q=0.5",
               "Accept-Encoding": "identity"}
    return aiohttp.ClientSession(connector=connector, timeout=timeout, headers=headers,
                                 cookie_jar=aiohttp.DummyCookieJar())


def retry_after_seconds(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After value (delta-seconds or HTTP date), None if absent or bad."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def backoff_delay(attempt: int, config: DownloadConfig, retry_after: float | None,
                  rng: random.Random) -> float:
    """Wait before attempt `attempt + 1`: Retry-After plus jitter, else equal-jitter exponential."""
    if retry_after is not None:
        return retry_after + rng.uniform(0, config.backoff_base)
    step = min(config.backoff_max, config.backoff_base * 2 ** (attempt - 1))
    return step / 2 + rng.uniform(0, step / 2)


class Fetcher:
    """Fetches bodies under the concurrency limits and records failures on the result."""

    def __init__(self, session: aiohttp.ClientSession, config: DownloadConfig,
                 rules: Placeholders, rng: random.Random | None = None) -> None:
        self._session, self._config, self._rules = session, config, rules
        self._limiter = HostLimiter(config.concurrency, config.per_host)
        self._opt_out = frozenset(d.lower() for d in config.opt_out)
        self._rng = rng or random.Random()

    async def fetch(self, result: ImageResult) -> bytes | None:
        """The body of `result.url`, or None with `result.status` set to the failure."""
        try:
            url = URL(result.url or "")
        except ValueError as err:
            result.fail("invalid_url", str(err))
            return None
        if url.scheme not in ("http", "https") or not url.host:
            result.fail("invalid_url", "not an absolute http(s) URL")
            return None
        host = f"{url.host}:{url.port}"
        for attempt in range(1, self._config.max_attempts + 1):
            result.attempts, result.status, result.error = attempt, OK, None
            result.http_status = result.final_url = None  # report the last attempt only
            async with self._limiter.slot(host):
                body, retry_after = await self._attempt(url, result)
                if retry_after is not None and result.http_status in (429, 503):
                    self._limiter.pause(host, min(retry_after, self._config.max_retry_after))
            if body is not None or result.status not in RETRIED:
                return body
            if retry_after is not None and retry_after > self._config.max_retry_after:
                result.error = f"{result.error}; Retry-After {retry_after:.0f}s exceeds the limit"
                return None
            if attempt < self._config.max_attempts:
                await asyncio.sleep(backoff_delay(attempt, self._config, retry_after, self._rng))
        return None

    async def _attempt(self, url: URL, result: ImageResult) -> tuple[bytes | None, float | None]:
        """One request; returns (body or None, Retry-After seconds or None)."""
        try:
            async with self._session.get(url, max_redirects=self._config.max_redirects) as resp:
                return await self._read(resp, result)
        except aiohttp.TooManyRedirects as err:
            result.fail("too_many_redirects", f"more than {self._config.max_redirects} redirects")
            result.final_url = str(err.request_info.real_url)
        except (aiohttp.InvalidUrlClientError, aiohttp.NonHttpUrlClientError) as err:
            result.fail("invalid_url", f"{type(err).__name__}: {err}")
        except TimeoutError as err:  # before ClientError/OSError: aiohttp's timeouts are both
            result.fail("timeout", f"{type(err).__name__}: {err}" if str(err) else type(err).__name__)
        except aiohttp.ClientConnectorDNSError as err:
            result.fail("dns", str(err))
        except aiohttp.ClientSSLError as err:
            result.fail("tls", str(err))
        except aiohttp.ClientPayloadError as err:
            result.fail("truncated", str(err))
        except (aiohttp.ClientError, OSError) as err:
            result.fail("connection", f"{type(err).__name__}: {err}")
        return None, None

    async def _read(self, resp: aiohttp.ClientResponse,
                    result: ImageResult) -> tuple[bytes | None, float | None]:
        """Check status and headers, then read at most max_bytes of body."""
        result.http_status, result.final_url = resp.status, str(resp.url)
        if self._rules.url_matches(result.final_url):
            result.fail("placeholder", "redirected to a known placeholder")
            return None, None
        failure = http_status_failure(resp.status)
        if failure is not None:
            result.fail(failure, f"HTTP {resp.status} {resp.reason or ''}".strip())
            return None, retry_after_seconds(resp.headers.get("Retry-After"))
        if not self._headers_ok(resp, result):
            return None, None
        if resp.content_length is not None and "Content-Encoding" not in resp.headers:
            return await resp.read(), None  # the parser stops at Content-Length
        body = await _read_at_most(resp.content, self._config.max_bytes)
        if body is None:
            result.fail("too_large", f"more than {self._config.max_bytes} bytes")
        return body, None

    def _headers_ok(self, resp: aiohttp.ClientResponse, result: ImageResult) -> bool:
        """False, with the failure recorded, for an opted-out, non-image or oversized answer."""
        directive = robots_opt_out(resp.headers.getall("X-Robots-Tag", ()),
                                   self._config.user_agent_token, self._opt_out)
        content_type = resp.headers.get("Content-Type")
        if directive is not None:
            result.fail("opted_out", f"X-Robots-Tag: {directive}")
        elif not content_type_ok(content_type, self._config.content_types):
            result.fail("wrong_content_type", f"Content-Type: {content_type}")
        elif resp.content_length is not None and resp.content_length > self._config.max_bytes:
            result.fail("too_large", f"Content-Length {resp.content_length} > {self._config.max_bytes}")
        else:
            return True
        return False


async def _read_at_most(stream: aiohttp.StreamReader, limit: int) -> bytes | None:
    """The stream's bytes, or None as soon as more than `limit` arrived."""
    chunks, size = [], 0
    async for chunk in stream.iter_any():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)
