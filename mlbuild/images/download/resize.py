"""Resize on download: orientation, size rules and re-encoding of one decoded image.

Modes (the size is `image_size`, in pixels, after the EXIF orientation is applied):
    none          keep the original bytes (no re-encode)
    keep_ratio    the longer side becomes image_size (fits in a square box); never upscales
    shorter_side  the shorter side becomes image_size; never upscales
                  (img2dataset calls this mode `keep_ratio`)
    center_crop   exactly image_size x image_size: shorter side scaled to image_size
                  (up or down), centre cropped, in one resampling pass

`min_image_size` (shorter side) and `max_aspect_ratio` (longer / shorter side) turn an
image into the statuses `too_small` / `bad_aspect_ratio`. The caller records the original
bytes' sha256, the original width/height and the pHash of the original full-resolution
image before anything here runs, so dedup never depends on these settings.
"""
from __future__ import annotations

import io
import math
from dataclasses import dataclass

from PIL import Image

from mlbuild.images.download.resample import resample

RESIZE_MODES = ("none", "keep_ratio", "shorter_side", "center_crop")
ENCODE_FORMATS = ("jpeg", "webp", "png")
PIL_FORMATS = {"jpeg": "JPEG", "webp": "WEBP", "png": "PNG"}
_ROTATED = (5, 6, 7, 8)  # EXIF orientations that swap width and height
_TRANSPOSE = {2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180,
              4: Image.Transpose.FLIP_TOP_BOTTOM, 5: Image.Transpose.TRANSPOSE,
              6: Image.Transpose.ROTATE_270, 7: Image.Transpose.TRANSVERSE, 8: Image.Transpose.ROTATE_90}
_WHITE = (255, 255, 255)


@dataclass(frozen=True)
class ResizeSpec:
    """How stored images are shaped and encoded (`DownloadConfig.resize`, `mlbuild export`)."""

    mode: str = "none"
    image_size: int = 256
    max_aspect_ratio: float | None = None
    min_image_size: int = 0
    encode_format: str = "jpeg"
    encode_quality: int = 95
    skip_reencode: bool = True

    def __post_init__(self) -> None:
        if self.mode not in RESIZE_MODES:
            raise ValueError(f"resize_mode must be one of {RESIZE_MODES}, got {self.mode!r}")
        if self.encode_format not in ENCODE_FORMATS:
            raise ValueError(f"encode_format must be one of {ENCODE_FORMATS}, got {self.encode_format!r}")
        if self.image_size < 1 or self.min_image_size < 0:
            raise ValueError("image_size must be positive and min_image_size not negative")
        if not 1 <= self.encode_quality <= 100:
            raise ValueError(f"encode_quality must be in 1..100, got {self.encode_quality}")
        if self.max_aspect_ratio is not None and self.max_aspect_ratio < 1:
            raise ValueError(f"max_aspect_ratio must be at least 1, got {self.max_aspect_ratio}")

    @property
    def active(self) -> bool:
        """True when images are decoded into a new file (any mode but none)."""
        return self.mode != "none"


@dataclass(frozen=True)
class Encoded:
    """An image as stored: its bytes, Pillow format name and pixel size."""

    data: bytes
    format: str
    width: int
    height: int


def orientation(img: Image.Image) -> int:
    """The EXIF orientation tag (1..8), 1 when absent or invalid."""
    try:
        value = img.getexif().get(0x0112, 1)
    except (OSError, ValueError, SyntaxError):  # a corrupt EXIF block: show the pixels as stored
        return 1
    return value if value in range(1, 9) else 1


def oriented_size(width: int, height: int, orient: int) -> tuple[int, int]:
    """The displayed size of a width x height image with EXIF orientation `orient`."""
    return (height, width) if orient in _ROTATED else (width, height)


def rejection(width: int, height: int, spec: ResizeSpec) -> tuple[str, str] | None:
    """(status, reason) if the size rules refuse the image, else None."""
    short, long_ = min(width, height), max(width, height)
    if short < spec.min_image_size:
        return "too_small", f"{width}x{height}: shorter side under {spec.min_image_size}"
    if spec.max_aspect_ratio is not None and long_ > spec.max_aspect_ratio * short:
        return "bad_aspect_ratio", f"{width}x{height}: aspect ratio over {spec.max_aspect_ratio}"
    return None


def target_size(width: int, height: int, spec: ResizeSpec) -> tuple[int, int]:
    """The stored size of a (displayed) width x height image."""
    if spec.mode == "center_crop":
        return spec.image_size, spec.image_size
    side = max(width, height) if spec.mode == "keep_ratio" else min(width, height)
    if spec.mode == "none" or side <= spec.image_size:
        return width, height
    scale = spec.image_size / side
    return max(1, round(width * scale)), max(1, round(height * scale))


def draft_request(width: int, height: int, orient: int, spec: ResizeSpec) -> tuple[int, int]:
    """The smallest raw (undecoded-orientation) size the resize needs: a JPEG may decode at 1/2..1/8."""
    shown = oriented_size(width, height, orient)
    if spec.mode == "center_crop":
        scale = spec.image_size / min(shown)
    else:
        scale = target_size(*shown, spec)[0] / shown[0]
    scale = min(1.0, scale)
    return max(1, math.ceil(width * scale)), max(1, math.ceil(height * scale))


def reshape(img: Image.Image, body: bytes, spec: ResizeSpec, orient: int,
            raw_size: tuple[int, int]) -> Encoded:
    """The image oriented, resized and encoded by `spec` (img may be a draft-scaled decode).

    `raw_size` is the original file's width x height (before any draft scaling). With
    `skip_reencode`, an image already in the output format, orientation and size keeps its bytes.
    """
    shown = oriented_size(*raw_size, orient)
    size = target_size(*shown, spec)
    if spec.skip_reencode and size == shown and orient == 1 and _storable_as_is(img, spec.encode_format):
        return Encoded(body, img.format, *shown)
    if orient in _TRANSPOSE:
        img = img.transpose(_TRANSPOSE[orient])
    img = _output_mode(img, spec.encode_format)
    if img.size != size:
        img = resample(img, size, _crop_box(img.size, spec))
    out = io.BytesIO()
    options = {"quality": spec.encode_quality} if spec.encode_format != "png" else {"compress_level": 6}
    img.save(out, PIL_FORMATS[spec.encode_format], **options)
    return Encoded(out.getvalue(), PIL_FORMATS[spec.encode_format], *size)


def _storable_as_is(img: Image.Image, encode_format: str) -> bool:
    """True if the file is already what a re-encode would give: format, colour mode, one frame."""
    modes = ("RGB",) if encode_format == "jpeg" else ("RGB", "RGBA")
    return (img.format == PIL_FORMATS[encode_format] and img.mode in modes
            and not getattr(img, "is_animated", False))


def _crop_box(size: tuple[int, int], spec: ResizeSpec) -> tuple[float, float, float, float]:
    """The source region to resample: the centred square for center_crop, else all of it."""
    w, h = size
    if spec.mode != "center_crop":
        return 0, 0, w, h
    side = min(w, h)
    left, top = (w - side) / 2, (h - side) / 2
    return left, top, left + side, top + side


def _output_mode(img: Image.Image, encode_format: str) -> Image.Image:
    """RGB for JPEG (transparency composited on white), RGB or RGBA for PNG/WebP."""
    has_alpha = img.mode in ("RGBA", "LA", "PA", "La", "RGBa") or "transparency" in img.info
    if not has_alpha:
        return img if img.mode == "RGB" else img.convert("RGB")
    rgba = img.convert("RGBA")
    if encode_format != "jpeg":
        return rgba
    flat = Image.new("RGB", rgba.size, _WHITE)
    flat.paste(rgba, mask=rgba.getchannel("A"))
    return flat


def reshape_bytes(body: bytes, spec: ResizeSpec) -> Encoded:
    """Decode an image file's bytes (JPEGs at the smallest scale the resize allows) and reshape them."""
    with Image.open(io.BytesIO(body)) as img:
        orient = orientation(img)
        raw = img.size
        if img.format == "JPEG":
            img.draft(img.mode, draft_request(*raw, orient, spec))
        img.load()
        return reshape(img, body, spec, orient, raw)
