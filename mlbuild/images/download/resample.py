"""Resampling an image to a new size: area-averaging down, bicubic up (Pillow's filters).

Downscaling RGB, the bulk of a download's work after decoding, runs on `cykooz.resizer`
(fast_image_resize's SIMD convolution) where the platform has its wheel (x86-64 Linux,
Windows, macOS): the same box filter 3-4x faster than Pillow, outside the GIL, within one
level of Pillow's pixels (tests/test_resample.py). Upscaling (its bicubic rounds
differently from Pillow's), alpha images and platforms without the wheel use Pillow.
"""
from __future__ import annotations

import threading

from PIL import Image

try:
    from cykooz_resizer import CropBox, FilterType, ResizeAlg, ResizeOptions, Resizer
except ImportError:  # no wheel for this platform: Pillow does the same job, slower
    Resizer = None

Box = tuple[float, float, float, float]
_local = threading.local()  # a Resizer holds a lock while it runs: one per thread


def resample(img: Image.Image, size: tuple[int, int], box: Box, use_pillow: bool = False) -> Image.Image:
    """`img`'s region `box` (left, top, right, bottom) resampled to `size` (width, height)."""
    down = size[0] < box[2] - box[0]
    if not down or img.mode != "RGB" or Resizer is None or use_pillow:
        return img.resize(size, Image.Resampling.BOX if down else Image.Resampling.BICUBIC, box=box)
    resizer = getattr(_local, "resizer", None)
    if resizer is None:
        resizer = _local.resizer = Resizer()
    options = ResizeOptions(resize_alg=ResizeAlg.convolution(FilterType.box),
                            crop_box=CropBox(box[0], box[1], box[2] - box[0], box[3] - box[1]))
    out = Image.new("RGB", size)
    resizer.resize_pil(img, out, options)
    return out
