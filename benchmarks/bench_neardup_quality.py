"""Near-duplicate quality of pHash and dHash on real photographs: precision and recall per transform.

Originals: non-overlapping 96 px tiles of the sample photographs (benchmarks/photos.py),
hundreds of distinct real images. Each transform makes one copy of every original; a copy is
a true match of its own original only. For every K the copies are searched against the
originals with mlbuild's exact Hamming search (K up to 12), giving per transform:
recall = copies within K of their original / copies, precision = true pairs / all pairs.
A second, larger negative set (random crops, pairs taken only across different photographs)
estimates the false-match rate per unrelated pair, which is what grows with dataset size.

    /work/venv/bin/python benchmarks/bench_neardup_quality.py
"""
from __future__ import annotations

import sys
from collections.abc import Callable

import numpy as np
from photos import jpeg_roundtrip, load_photos, tiles
from PIL import Image, ImageEnhance, ImageOps

from mlbuild.images.neardup import hamming_pairs
from mlbuild.images.phash import hash_images

KS = range(0, 13)
MIN_STD = 12.0  # grey-level standard deviation below which a tile or crop counts as flat
SHOWN = (0, 2, 4, 6, 8, 10, 12)


def crop(fraction: float) -> Callable[[Image.Image], Image.Image]:
    def apply(img: Image.Image) -> Image.Image:
        w, h = img.size
        dx, dy = round(w * fraction), round(h * fraction)
        return img.crop((dx, dy, w - dx, h - dy))
    return apply


def scale(factor: float) -> Callable[[Image.Image], Image.Image]:
    return lambda img: img.resize((round(img.width * factor), round(img.height * factor)),
                                  Image.Resampling.BICUBIC)


TRANSFORMS: dict[str, Callable[[Image.Image], Image.Image]] = {
    "resize 0.5x": scale(0.5),
    "resize 2x": scale(2.0),
    "jpeg q90": lambda img: jpeg_roundtrip(img, 90),
    "jpeg q70": lambda img: jpeg_roundtrip(img, 70),
    "jpeg q50": lambda img: jpeg_roundtrip(img, 50),
    "jpeg q30": lambda img: jpeg_roundtrip(img, 30),
    "resize 0.5x + jpeg q70": lambda img: jpeg_roundtrip(scale(0.5)(img), 70),
    "crop 3% per side": crop(0.03),
    "crop 8% per side": crop(0.08),
    "brightness +20%": lambda img: ImageEnhance.Brightness(img).enhance(1.2),
    "contrast -20%": lambda img: ImageEnhance.Contrast(img).enhance(0.8),
    "grayscale": lambda img: img.convert("L"),
    "rotate 3 deg": lambda img: img.rotate(3, resample=Image.Resampling.BICUBIC),
    "horizontal flip": ImageOps.mirror,
}


def scores(copies: np.ndarray, originals: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Recall and precision at every K of copies[i] against originals (true match: i)."""
    i, j, d = hamming_pairs(copies, originals, max(KS))
    true = i == j
    recall = np.array([(true & (d <= k)).sum() / len(copies) for k in KS])
    found = np.array([(d <= k).sum() for k in KS])
    precision = np.array([(true & (d <= k)).sum() for k in KS]) / np.maximum(found, 1)
    return recall, np.where(found > 0, precision, np.nan)


def random_crops(per_photo: int = 600, seed: int = 0) -> tuple[list[Image.Image], np.ndarray]:
    """Random crops (1/6 to 1/2 of each side) of every photo, near-flat ones redrawn as in
    `tiles`, with the index of the photo each came from."""
    rng = np.random.default_rng(seed)
    images, source = [], []
    for s, photo in enumerate(load_photos()):
        w, h = photo.size
        while len(images) < (s + 1) * per_photo:
            cw, ch = int(rng.integers(w // 6, w // 2)), int(rng.integers(h // 6, h // 2))
            x, y = int(rng.integers(0, w - cw)), int(rng.integers(0, h - ch))
            img = photo.crop((x, y, x + cw, y + ch))
            if np.asarray(img.convert("L"), np.float32).std() >= MIN_STD:
                images.append(img)
                source.append(s)
    return images, np.array(source)


def false_match_rate(kind: str, crops: list[Image.Image], source: np.ndarray) -> tuple[np.ndarray, int]:
    """Fraction of unrelated pairs (crops of different photos) within each K."""
    hashes = hash_images(crops, kind)
    i, j, d = hamming_pairs(hashes, hashes, max(KS))
    cross = (source[i] != source[j]) & (i < j)
    n_pairs = (len(hashes) ** 2 - (np.bincount(source) ** 2).sum()) // 2
    return np.array([(cross & (d <= k)).sum() for k in KS]) / n_pairs, int(n_pairs)


def table(title: str, rows: dict[str, tuple[np.ndarray, str]]) -> str:
    """A markdown table with one column per shown K; each row has its own number format."""
    head = f"| {title} | " + " | ".join(f"K={k}" for k in SHOWN) + " |"
    rule = "|---" * (len(SHOWN) + 1) + "|"
    body = [f"| {name} | " + " | ".join(fmt.format(v[k]) if not np.isnan(v[k]) else "-" for k in SHOWN) + " |"
            for name, (v, fmt) in rows.items()]
    return "\n".join([head, rule, *body])


def main() -> int:
    originals = tiles(load_photos(), side=96, min_std=MIN_STD)
    crops, source = random_crops()
    copies = {name: [t(img) for img in originals] for name, t in TRANSFORMS.items()}
    print(f"{len(originals)} original tiles (96 px) of {len(load_photos())} photographs, "
          f"{len(TRANSFORMS)} transforms\n")
    for kind in ("phash", "dhash"):
        base = hash_images(originals, kind)
        recall, precision = {}, {}
        for name, imgs in copies.items():
            recall[name], precision[name] = scores(hash_images(imgs, kind), base)
        kept = [n for n in TRANSFORMS if n != "horizontal flip"]
        recall["all but flip"] = np.mean([recall[n] for n in kept], axis=0)
        print(f"### {kind}: recall\n\n{table('transform', {n: (r, '{:.3f}') for n, r in recall.items()})}\n")
        print(f"### {kind}: precision\n\n{table('transform', {n: (p, '{:.3f}') for n, p in precision.items()})}\n")
        rate, n_pairs = false_match_rate(kind, crops, source)
        print(f"### {kind}: false matches among {n_pairs:,} unrelated pairs (crops of different photos)\n")
        print(table("unrelated pairs", {"within K / all": (rate, "{:.1e}")}) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
