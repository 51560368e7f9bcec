"""Perceptual hashes (pHash, dHash) as uint64, bit-identical to `imagehash` by default.

Exact mode reproduces `imagehash.phash` / `imagehash.dhash` (hash_size=8): grayscale with
PIL `convert("L")`, LANCZOS resize (32x32 for pHash, 9x8 for dHash), then for pHash the
scipy type-II DCT along both axes, its top-left 8x8 block and a strict median threshold;
for dHash "left pixel < right pixel" per row.

Bit order: the 8x8 boolean grid is read row by row and the first cell is the most
significant bit, so `phash_int(img) == int(str(imagehash.phash(img)), 16)`.

Fast mode trades exactness for speed, for bulk hashing of files:
- JPEGs are decoded at reduced scale in grayscale (`img.draft("L", ...)`: libjpeg's
  DCT-domain downscale to the smallest of 1/2, 1/4, 1/8 that keeps both sides >= 64 px, twice
  the 32 px thumbnail; going down to 32 px triples the drift), which skips most of the IDCT,
  the colour conversion and most of the resize; other formats decode as in exact mode;
- the DCT is one batched matrix product with a precomputed 8x32 DCT matrix, with
  coefficients rounded to 1e-6 so that flat images (all-zero AC coefficients) hash the same
  on every BLAS instead of by floating-point noise.
Its drift from the exact definition is measured in benchmarks/bench_hash.py (docs/dedup.md).
"""
from __future__ import annotations

import io
from collections.abc import Sequence
from os import PathLike

import numpy as np
import scipy.fftpack
from PIL import Image

HASH_SIZE = 8
PHASH_SIDE = 32  # hash_size * highfreq_factor, as imagehash's default
KINDS = ("phash", "dhash")
FAST_DECODE_SIDE = 64  # fast mode decodes JPEGs at the smallest scale keeping both sides >= this
THUMBNAIL = {"phash": (PHASH_SIDE, PHASH_SIDE), "dhash": (HASH_SIZE + 1, HASH_SIZE)}  # (w, h)

_N = np.arange(PHASH_SIDE)
_K = np.arange(HASH_SIZE)
# Unnormalized DCT-II rows 0..7 of length 32, the same scale as scipy.fftpack.dct(type=2).
DCT_MATRIX = 2.0 * np.cos(np.pi * _K[:, None] * (2 * _N[None, :] + 1) / (2 * PHASH_SIDE))

Source = str | PathLike | bytes


def pack_bits(bits: np.ndarray) -> np.ndarray:
    """(n, 64) booleans -> (n,) uint64, first bit most significant (imagehash's hex order)."""
    packed = np.packbits(bits.reshape(len(bits), HASH_SIZE * HASH_SIZE), axis=1, bitorder="big")
    return packed.view(">u8").ravel().astype(np.uint64)


def thumbnail_size(kind: str) -> tuple[int, int]:
    """(width, height) of the thumbnail a hash kind is computed from."""
    if kind not in THUMBNAIL:
        raise ValueError(f"unknown hash kind {kind!r}; expected one of {KINDS}")
    return THUMBNAIL[kind]


def _threshold_median(coeffs: np.ndarray) -> np.ndarray:
    flat = coeffs.reshape(len(coeffs), HASH_SIZE * HASH_SIZE)
    return pack_bits(flat > np.median(flat, axis=1, keepdims=True))


def phash_pixels(pixels: np.ndarray, fast: bool = False) -> np.ndarray:
    """pHashes of a stack of 32x32 grayscale thumbnails, shape (n, 32, 32) -> (n,) uint64."""
    if fast:
        coeffs = np.round(DCT_MATRIX @ pixels.astype(np.float64) @ DCT_MATRIX.T, 6)
    else:
        coeffs = scipy.fftpack.dct(scipy.fftpack.dct(pixels, axis=1), axis=2)
    return _threshold_median(coeffs[:, :HASH_SIZE, :HASH_SIZE])


def dhash_pixels(pixels: np.ndarray) -> np.ndarray:
    """dHashes of a stack of 8-row, 9-column grayscale thumbnails, (n, 8, 9) -> (n,) uint64."""
    return pack_bits(pixels[:, :, 1:] > pixels[:, :, :-1])


def thumbnail(img: Image.Image, kind: str = "phash") -> np.ndarray:
    """The grayscale thumbnail a hash is computed from, as imagehash makes it."""
    return np.asarray(img.convert("L").resize(thumbnail_size(kind), Image.Resampling.LANCZOS))


def hash_thumbnails(pixels: np.ndarray, kind: str = "phash", fast: bool = False) -> np.ndarray:
    """Hashes of a stack of thumbnails of one kind."""
    thumbnail_size(kind)  # refuses an unknown kind
    return phash_pixels(pixels, fast) if kind == "phash" else dhash_pixels(pixels)


def hash_images(images: Sequence[Image.Image], kind: str = "phash",
                fast: bool = False) -> np.ndarray:
    """Hashes of decoded images as a uint64 array (fast only changes the DCT here)."""
    w, h = thumbnail_size(kind)
    pixels = np.stack([thumbnail(img, kind) for img in images]) if images else \
        np.empty((0, h, w), np.uint8)
    return hash_thumbnails(pixels, kind, fast)


def phash_int(img: Image.Image) -> int:
    """pHash of one image as a Python int in [0, 2**64), equal to int(str(imagehash.phash(img)), 16)."""
    return int(phash_pixels(thumbnail(img, "phash")[None])[0])


def dhash_int(img: Image.Image) -> int:
    """dHash of one image as a Python int, equal to int(str(imagehash.dhash(img)), 16)."""
    return int(dhash_pixels(thumbnail(img, "dhash")[None])[0])


def open_image(source: Source, kind: str = "phash", fast: bool = False) -> Image.Image:
    """Open a file or bytes; in fast mode ask a JPEG decoder for a reduced grayscale decode."""
    thumbnail_size(kind)  # refuses an unknown kind before any I/O
    img = Image.open(io.BytesIO(source) if isinstance(source, bytes) else source)
    if fast:
        img.draft("L", (FAST_DECODE_SIDE, FAST_DECODE_SIDE))
    return img
