"""Decide an image's status from what the server sent: status line, headers and bytes.

Pure functions (no I/O), so the same rules apply to every fetch and are tested directly.
Header checks run before the body is read (an opted-out or HTML answer is never
downloaded); body checks run in a worker thread because decoding costs milliseconds.
"""
from __future__ import annotations

import hashlib
import io
import struct
from collections.abc import Callable, Iterable

from PIL import Image

from mlbuild.images.download.placeholders import Placeholders
from mlbuild.images.download.resize import ResizeSpec, draft_request, orientation, oriented_size, rejection, reshape
from mlbuild.images.download.results import ImageResult

Hasher = Callable[[Image.Image], int]

# Directives that qualify with a value ("max-snippet: 20"), so "name:" before them is no bot name.
_VALUED_DIRECTIVES = frozenset({"max-snippet", "max-image-preview", "max-video-preview",
                                "unavailable_after"})
# What Pillow raises on corrupt or hostile input (its own Image.open probes catch the same set).
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, IndexError, TypeError,
                  struct.error, ZeroDivisionError)


def http_status_failure(code: int) -> str | None:
    """The failure status for an HTTP status code, or None for 200."""
    if code == 200:
        return None
    if code == 429:
        return "rate_limited"
    if 400 <= code < 500:
        return "http_4xx"
    if 500 <= code < 600:
        return "http_5xx"
    return "http_other"


def robots_opt_out(values: Iterable[str], token: str, directives: frozenset[str]) -> str | None:
    """The X-Robots-Tag directive that forbids us, or None.

    Each header value is `[bot:] directive, directive, ...`; directives scoped to another
    bot are ignored, unscoped ones and ones scoped to our `token` apply.
    """
    for value in values:
        scope, sep, rest = value.partition(":")
        scoped = bool(sep) and scope.strip().lower() not in _VALUED_DIRECTIVES
        if scoped and scope.strip().lower() != token.lower():
            continue
        for directive in (rest if scoped else value).split(","):
            if directive.strip().lower() in directives:
                return directive.strip().lower()
    return None


def content_type_ok(value: str | None, allowed: tuple[str, ...]) -> bool:
    """True if the Content-Type is absent or starts with one of the allowed prefixes."""
    if not value:
        return True
    media = value.split(";", 1)[0].strip().lower()
    return any(media.startswith(prefix) for prefix in allowed)


def check_body(result: ImageResult, body: bytes, md5: str | None, size: int | None,
               rules: Placeholders, host: str, max_pixels: int,
               hasher: Hasher | None = None, resize: ResizeSpec | None = None) -> ImageResult:
    """Fill sha256, size and image fields of `result` and set its status from the bytes.

    With an active `resize`, `result.output` gets the image to store (`resize.reshape`); the
    recorded sha256, width, height and pHash are always those of the original image.
    """
    result.bytes, result.sha256 = len(body), hashlib.sha256(body).hexdigest()
    if size is not None and len(body) != size:
        return result.fail("size_mismatch", f"{len(body)} bytes, source says {size}")
    if md5 is not None and hashlib.md5(body).hexdigest() != md5:
        return result.fail("md5_mismatch", f"md5 differs from source's {md5}")
    if rules.sha256_matches(result.sha256):
        return result.fail("placeholder", "bytes equal a known placeholder")
    resize = resize if resize is not None and resize.active else None
    try:
        img = _open(body, max_pixels)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as err:
        return result.fail("decompression_bomb", str(err))
    except _DECODE_ERRORS as err:
        return result.fail("not_image", f"{type(err).__name__}: {err}")
    with img:
        result.width, result.height, result.format = img.width, img.height, img.format
        orient = orientation(img) if resize else 1
        try:
            if resize and hasher is None and img.format == "JPEG":  # a pHash needs every pixel
                img.draft(img.mode, draft_request(img.width, img.height, orient, resize))
            img.load()
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as err:
            return result.fail("decompression_bomb", str(err))
        except _DECODE_ERRORS as err:
            return result.fail("not_image", f"{type(err).__name__}: {err}")
        if rules.image_matches(host, result.width, result.height, result.format):
            return result.fail("placeholder", f"{img.format} {result.width}x{result.height} "
                                              f"from {host} is a known placeholder")
        if hasher is not None:
            result.phash = _uint64(hasher(img))
        if resize:
            return _reshaped(result, img, body, resize, orient)
    return result


def _reshaped(result: ImageResult, img: Image.Image, body: bytes, resize: ResizeSpec,
              orient: int) -> ImageResult:
    """Apply the size rules and the resize; the output goes to `result.output`."""
    raw = (result.width, result.height)
    refused = rejection(*oriented_size(*raw, orient), resize)
    if refused is not None:
        return result.fail(*refused)
    try:
        result.output = reshape(img, body, resize, orient, raw)
    except _DECODE_ERRORS as err:
        return result.fail("not_image", f"cannot convert: {type(err).__name__}: {err}")
    return result


def _open(body: bytes, max_pixels: int) -> Image.Image:
    """The image, opened but not decoded; raises if it has more than max_pixels."""
    img = Image.open(io.BytesIO(body))
    if img.width * img.height > max_pixels:
        img.close()
        raise Image.DecompressionBombError(f"{img.width}x{img.height} pixels exceeds "
                                           f"the limit of {max_pixels:,}")
    return img


def _uint64(value: int) -> int:
    if not 0 <= value < 1 << 64:
        raise ValueError(f"hasher returned {value}, not an unsigned 64-bit integer")
    return int(value)
