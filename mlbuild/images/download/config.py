"""`DownloadConfig`: every setting of the download stage in one dataclass (built from TOML or the CLI)."""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from PIL import Image

from mlbuild import __version__
from mlbuild.config_check import field_problem
from mlbuild.errors import MlbuildError
from mlbuild.images.download.resize import ENCODE_FORMATS, RESIZE_MODES, ResizeSpec
from mlbuild.images.download.results import RETRY_MODES

OUTPUT_FORMATS = ("files", "webdataset", "parquet")


_POSITIVE = {"above": 0}
_NOT_NEGATIVE = {"min": 0}


@dataclass(frozen=True)
class DownloadConfig:
    """How to fetch, check and store images. Times are seconds, sizes bytes."""

    concurrency: int = field(default=64, metadata=_POSITIVE)        # requests in flight, all hosts
    per_host: int = field(default=16, metadata=_POSITIVE)           # requests in flight to one host (host:port)
    connect_timeout: float = field(default=10.0, metadata=_POSITIVE)  # TCP + TLS connect
    read_timeout: float = field(default=30.0, metadata=_POSITIVE)   # longest silence waiting for headers or body
    total_timeout: float = field(default=120.0, metadata=_POSITIVE)  # one attempt, start to last byte
    max_redirects: int = field(default=5, metadata=_NOT_NEGATIVE)
    max_attempts: int = field(default=3, metadata=_POSITIVE)        # tries per image for transient failures
    backoff_base: float = field(default=1.0, metadata=_NOT_NEGATIVE)  # first retry after ~base, doubling, jitter
    backoff_max: float = field(default=60.0, metadata=_NOT_NEGATIVE)
    max_retry_after: float = field(default=600.0, metadata=_NOT_NEGATIVE)  # a longer Retry-After ends the retries
    max_bytes: int = field(default=50 * 2**20, metadata=_POSITIVE)  # reading stops past this size
    max_pixels: int | None = field(default=None, metadata=_POSITIVE)  # None: Pillow's Image.MAX_IMAGE_PIXELS
    content_types: tuple[str, ...] = ("image/", "application/octet-stream", "binary/octet-stream")
    user_agent_token: str = "mlbuild"     # product token in User-Agent, matched by X-Robots-Tag scopes
    opt_out: tuple[str, ...] = ("noai", "noimageai", "noindex", "noimageindex", "none")
    placeholders: Path | None = None      # extra placeholder rules (placeholders.tsv format)
    retry: str = field(default="none", metadata={"choices": RETRY_MODES})  # resume: also redo failed images
    batch_size: int = field(default=2048, metadata=_POSITIVE)       # input rows read at a time
    max_pending: int | None = field(default=None, metadata=_POSITIVE)  # admitted, unfinished; None: 32 * concurrency
    processes: int = field(default=0, metadata=_NOT_NEGATIVE)       # event loops in parallel processes; 0: per CPU
    workers: int = field(default=4, metadata=_POSITIVE)             # threads per process that check, hash and write
    fsync_interval: float = field(default=1.0, metadata=_NOT_NEGATIVE)  # journal group commit period
    # what is stored (docs/download.md "Resize and shards"; mlbuild.images.download.resize)
    resize_mode: str = field(default="none", metadata={"choices": RESIZE_MODES})
    image_size: int = field(default=256, metadata={"min": 1})
    max_aspect_ratio: float | None = field(default=None, metadata={"min": 1.0})
    min_image_size: int = field(default=0, metadata={"min": 0})
    encode_format: str = field(default="jpeg", metadata={"choices": ENCODE_FORMATS})
    encode_quality: int = field(default=95, metadata={"min": 1, "max": 100})
    skip_reencode: bool = True            # keep the bytes of an image already in format and size
    output_format: str = field(default="files", metadata={"choices": OUTPUT_FORMATS})
    shard_size: int = field(default=10_000, metadata={"min": 1})  # images per webdataset/parquet shard

    def __post_init__(self) -> None:
        for spec in fields(self):
            problem = field_problem(getattr(self, spec.name), dict(spec.metadata))
            if problem:
                raise MlbuildError(f"download config: {spec.name}: {problem}")
        try:
            self.resize  # noqa: B018 - validates the resize settings
        except ValueError as err:
            raise MlbuildError(f"download config: {err}") from None
        if not self.user_agent_token or any(c.isspace() or c in ";()" for c in self.user_agent_token):
            raise MlbuildError(f"download config: user_agent_token {self.user_agent_token!r} must be "
                               f"one word without ';', '(' or ')'")

    @classmethod
    def from_mapping(cls, values: dict[str, Any]) -> DownloadConfig:
        """A config from a TOML table; unknown keys are an error, lists become tuples."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise MlbuildError(f"download config: unknown keys {unknown}; known: {sorted(known)}")
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in values.items()})

    @property
    def resize(self) -> ResizeSpec:
        """The resize and encode settings as one value."""
        return ResizeSpec(self.resize_mode, self.image_size, self.max_aspect_ratio, self.min_image_size,
                          self.encode_format, self.encode_quality, self.skip_reencode)

    @property
    def user_agent(self) -> str:
        """The User-Agent header: a browser-compatible prefix and our product token."""
        return f"Mozilla/5.0 (compatible; {self.user_agent_token}; mlbuild/{__version__})"

    @property
    def pixel_limit(self) -> int:
        """The decompression-bomb limit in pixels, resolved at run time."""
        if self.max_pixels is not None:
            return self.max_pixels
        return Image.MAX_IMAGE_PIXELS if Image.MAX_IMAGE_PIXELS is not None else sys.maxsize

    @property
    def pending_limit(self) -> int:
        """Most images admitted at once (bounds memory for any input length)."""
        return self.max_pending or 32 * self.concurrency

    @property
    def process_count(self) -> int:
        """Processes to run: `processes`, or one per CPU when 0."""
        return self.processes or os.cpu_count() or 1

    def per_process(self) -> DownloadConfig:
        """The share of one of `process_count` processes: limits divided, so totals hold."""
        n = self.process_count
        return replace(self, processes=1, concurrency=max(1, self.concurrency // n),
                       per_host=max(1, self.per_host // n),
                       max_pending=max(1, self.pending_limit // n))
