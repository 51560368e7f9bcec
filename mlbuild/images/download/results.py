"""Per-image download results: the fixed status vocabulary, the row type and its Arrow schema.

Every input image ends with exactly one status. `TRANSIENT` statuses may succeed on a
later attempt (they are retried within a run and by `--retry-failed transient`); the
others describe the image or the server's answer and are final unless retried explicitly.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, fields
from typing import Any

import pyarrow as pa

OK = "ok"
STATUSES = (
    OK,
    "placeholder",          # a "photo unavailable" image (final URL, sha256 or dimensions)
    "opted_out",            # X-Robots-Tag forbids use (noai, noimageai, ...)
    "http_4xx",             # client error status other than 429
    "rate_limited",         # 429 after the last attempt
    "http_5xx",
    "http_other",           # any other non-200 final status (1xx, 204, 3xx without Location, ...)
    "timeout",              # connect, read or total timeout
    "dns",                  # host name did not resolve
    "connection",           # refused, reset, closed before the response
    "tls",                  # certificate or handshake failure
    "truncated",            # body shorter than Content-Length (connection closed mid-body)
    "too_many_redirects",   # redirect chain longer than the limit, or a loop
    "invalid_url",          # not an absolute http(s) URL, or a redirect to one
    "wrong_content_type",   # Content-Type is neither image/* nor a generic binary type
    "too_large",            # more bytes than max_bytes (reading stops at the limit)
    "size_mismatch",        # byte count differs from the source's `size`
    "md5_mismatch",         # MD5 differs from the source's `md5`
    "not_image",            # Pillow cannot decode the bytes fully
    "decompression_bomb",   # more pixels than the limit (Pillow's MAX_IMAGE_PIXELS by default)
    "too_small",            # shorter side under min_image_size
    "bad_aspect_ratio",     # longer / shorter side over max_aspect_ratio
)
TRANSIENT = frozenset({"rate_limited", "http_5xx", "timeout", "dns", "connection", "truncated"})
RETRY_MODES = ("none", "transient", "all")
_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")

RESULTS = pa.schema([
    pa.field("image_id", pa.string(), nullable=False),
    pa.field("url", pa.string()),
    pa.field("status", pa.string(), nullable=False),     # one of STATUSES
    pa.field("http_status", pa.int32()),                 # of the last attempt, null if no response
    pa.field("bytes", pa.int64()),                       # body bytes read (complete bodies only)
    pa.field("sha256", pa.string()),                     # hex digest of the body
    pa.field("width", pa.int32()),
    pa.field("height", pa.int32()),
    pa.field("format", pa.string()),                     # Pillow format name: JPEG, PNG, ...
    pa.field("phash", pa.uint64()),                      # from the hasher, when one is given
    pa.field("path", pa.string()),                       # file relative to the output folder, ok only
    pa.field("offset", pa.int64()),                      # where its bytes start in `path` (a spool or tar shard)
    pa.field("stored_width", pa.int32()),                # the stored file's size (after resize), ok only
    pa.field("stored_height", pa.int32()),
    pa.field("stored_bytes", pa.int64()),
    pa.field("stored_format", pa.string()),              # Pillow format name of the stored bytes
    pa.field("attempts", pa.int32(), nullable=False),
    pa.field("final_url", pa.string()),                  # after redirects
    pa.field("error", pa.string()),                      # short reason for a failure
])


@dataclass(slots=True)
class ImageResult:
    """The outcome of one image; `as_record` is its journal line and its results row."""

    image_id: str
    url: str | None
    status: str = OK
    http_status: int | None = None
    bytes: int | None = None
    sha256: str | None = None
    width: int | None = None
    height: int | None = None
    format: str | None = None
    phash: int | None = None
    path: str | None = None
    offset: int | None = None
    stored_width: int | None = None
    stored_height: int | None = None
    stored_bytes: int | None = None
    stored_format: str | None = None
    attempts: int = 0
    final_url: str | None = None
    error: str | None = None
    output: object = None  # the Encoded image to store when resizing (not recorded)

    def fail(self, status: str, error: str | None = None) -> ImageResult:
        """Mark this result failed with `status` (one of STATUSES); returns self.

        Object addresses in the text (Pillow names `<_io.BytesIO object at 0x7f...>`) are
        dropped, so the same failure gives the same results file on every run."""
        self.status, self.error = status, (_ADDRESS.sub("", error)[:500] if error else error)
        return self

    def as_record(self) -> dict[str, Any]:
        """The result as a plain dict with the RESULTS field names."""
        return {name: getattr(self, name) for name in _FIELD_NAMES}


_FIELD_NAMES = tuple(f.name for f in fields(ImageResult) if f.name != "output")


def summarize(table: pa.Table) -> dict[str, int]:
    """Counts by status, in STATUSES order, for the statuses present."""
    counts = table.column("status").value_counts().to_pylist()
    found = {c["values"]: c["counts"] for c in counts}
    return {status: found[status] for status in STATUSES if status in found}
