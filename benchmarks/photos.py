"""Real photographs available offline, for the hashing benchmarks.

scikit-image ships sample photographs in its wheel (benchmark-only: `pip install scikit-image`);
scikit-learn ships two more (`sklearn/datasets/images`, used when installed). Without
scikit-image the benchmarks fall back to the six test fixtures in tests/fixtures/images.
"""
from __future__ import annotations

import importlib.util
import io
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "tests" / "fixtures" / "images"
DATA = REPO / "benchmarks" / "_data"
# Photographs only (no drawings, text, synthetic or binary images); motorcycle_right would
# nearly duplicate motorcycle_left, so only one of the stereo pair is used.
SKIMAGE_PHOTOS = ("astronaut.png", "brick.png", "camera.png", "cell.png", "chelsea.png",
                  "clock_motion.png", "coffee.png", "coins.png", "grass.png", "gravel.png",
                  "hubble_deep_field.jpg", "ihc.png", "moon.png", "motorcycle_left.png",
                  "retina.jpg", "rocket.jpg")
FIXTURE_SOURCES = {"astronaut.jpg": ("astronaut.png", 320, "JPEG"), "camera.png": ("camera.png", 256, "PNG"),
                   "chelsea.jpg": ("chelsea.png", 320, "JPEG"), "coffee.jpg": ("coffee.png", 360, "JPEG"),
                   "rocket.jpg": ("rocket.jpg", 360, "JPEG"),
                   "hubble_deep_field.jpg": ("hubble_deep_field.jpg", 320, "JPEG")}


def _package_dir(package: str, sub: str) -> Path | None:
    spec = importlib.util.find_spec(package)
    return Path(spec.origin).parent / sub if spec and spec.origin else None


def photo_files() -> list[Path]:
    """Paths of the real photographs found on this machine."""
    skimage = _package_dir("skimage", "data")
    sklearn = _package_dir("sklearn", "datasets/images")
    files = [skimage / name for name in SKIMAGE_PHOTOS] if skimage else []
    files += sorted(sklearn.glob("*.jpg")) if sklearn else []
    return [f for f in files if f.is_file()] or sorted(FIXTURES.glob("*.[jp][pn]g"))


def load_photos() -> list[Image.Image]:
    """The photographs decoded as RGB."""
    return [Image.open(f).convert("RGB") for f in photo_files()]


def tiles(photos: list[Image.Image], side: int = 128, min_std: float = 12.0) -> list[Image.Image]:
    """Non-overlapping side x side tiles of every photo, dropping near-flat ones (black
    borders, empty sky): distinct real-photo content, hundreds of unrelated images."""
    out = []
    for photo in photos:
        w, h = photo.size
        for y in range(0, h - side + 1, side):
            for x in range(0, w - side + 1, side):
                tile = photo.crop((x, y, x + side, y + side))
                if np.asarray(tile.convert("L"), np.float32).std() >= min_std:
                    out.append(tile)
    return out


def realistic_jpegs(count: int, folder: Path, size: tuple[int, int] = (500, 375), seed: int = 0) -> list[Path]:
    """`count` JPEGs of `size` (ImageNet's typical 500x375), random 4:3 crops of the photos
    at JPEG quality 75-95; reused when already there."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / f"{i:06d}.jpg" for i in range(count)]
    if all(p.exists() for p in paths):
        return paths
    rng = np.random.default_rng(seed)
    photos = load_photos()
    for path in paths:
        photo = photos[rng.integers(len(photos))]
        w, h = photo.size
        cw = int(rng.uniform(0.4, 1.0) * min(w, h * 4 / 3))
        ch = cw * 3 // 4
        x, y = rng.integers(0, w - cw + 1), rng.integers(0, h - ch + 1)
        crop = photo.crop((x, y, x + cw, y + ch)).resize(size, Image.Resampling.BICUBIC)
        crop.save(path, "JPEG", quality=int(rng.integers(75, 96)))
    return paths


def jpeg_roundtrip(img: Image.Image, quality: int) -> Image.Image:
    """The image after one JPEG encode/decode at `quality`."""
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=quality)
    buf.seek(0)
    return Image.open(buf).convert(img.mode)


def write_fixtures() -> None:
    """Regenerate tests/fixtures/images from scikit-image's sample photographs."""
    skimage = _package_dir("skimage", "data")
    for name, (source, side, fmt) in FIXTURE_SOURCES.items():
        img = Image.open(skimage / source)
        img.thumbnail((side, side), Image.Resampling.LANCZOS)
        img.save(FIXTURES / name, fmt, **({"quality": 85} if fmt == "JPEG" else {"optimize": True}))
