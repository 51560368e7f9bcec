"""Near-duplicate quality of pHash and dHash on real photographs: precision and recall per transform.

Originals: non-overlapping 96 px tiles of the sample photographs (benchmarks/photos.py),
hundreds of distinct real images. Each transform makes one copy of every original; a copy is
a true match of its own original only. For every K the copies are searched against the
originals with mlbuild's exact Hamming search (K up to 12), giving per transform:
recall = copies within K of their original / copies, precision = true pairs / all pairs.
A second, larger negative set (random crops, pairs taken only across different photographs)
estimates the false-match rate per unrelated pair, which is what grows with dataset size.

The last section runs the build's search with its defaults: the copies as training images
(keys: plain, trimmed) against the originals as evaluation images (keys: plain, trimmed,
mirrored, centre crops; `mlbuild.images.hash_keys`), with the check signature, "before" being
plain hashes at K = 6 (the search before search keys existed). False matches are counted
both among the copies x other originals and over the random crops (ordered pairs: a crop's
training keys against another photo's crop's evaluation keys).

`--unrelated-only` (also the last section of the full run): 100+ unrelated real photographs
that pip and apt packages install (benchmarks/unrelated_photos.py says which and how), each
with one copy under every default transform, all hashed with the build's default keys (every
image's training keys against every image's evaluation keys): false matches between images of
different photographs, and recall of every copy against its own photograph.

`--rotation-only`: a candidate that is not shipped, rotated evaluation keys (the evaluation
image rotated by +-ROTATION degrees, as it is or centre-cropped by ROTATION_CROP), their recall on
rotated copies (black corners, white corners, corners cropped off) and false matches over the
random crops.

    .venv/bin/python benchmarks/bench_neardup_quality.py [--defaults-only | --descriptor-only | --unrelated-only
                                                          | --rotation-only]
"""
from __future__ import annotations

import sys
import time
from collections.abc import Callable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from photos import jpeg_roundtrip, load_photos, tiles
from PIL import Image, ImageDraw, ImageEnhance, ImageOps
from unrelated_photos import open_photo, unrelated_photo_files

from mlbuild.images.hash_keys import CROP0, KEYS, centre_crop, check_signatures, key_sources
from mlbuild.images.neardup import DEFAULT_MAX_DISTANCE, Limits, dedup_keys, hamming_pairs
from mlbuild.images.phash import PHASH_SIDE, hash_images, hash_thumbnails

KS = range(0, 13)
MIN_STD = 12.0  # grey-level standard deviation below which a tile or crop counts as flat
SHOWN = (0, 2, 4, 6, 8, 10, 12)
ROTATION, ROTATION_CROP = 2.5, 0.04  # the candidate rotated keys (not shipped)
WEB_SIDE = 640  # unrelated photographs are reduced to at most this longer side (web / evaluation size)


def crop(fraction: float) -> Callable[[Image.Image], Image.Image]:
    def apply(img: Image.Image) -> Image.Image:
        w, h = img.size
        dx, dy = round(w * fraction), round(h * fraction)
        return img.crop((dx, dy, w - dx, h - dy))
    return apply


def scale(factor: float) -> Callable[[Image.Image], Image.Image]:
    return lambda img: img.resize((round(img.width * factor), round(img.height * factor)),
                                  Image.Resampling.BICUBIC)


def pad(width: float, height: float, colour: tuple[int, int, int]) -> Callable[[Image.Image], Image.Image]:
    """Letterbox / pillarbox: the image centred on a flat canvas `width` x `height` times its size."""
    def apply(img: Image.Image) -> Image.Image:
        canvas = Image.new("RGB", (round(img.width * width), round(img.height * height)), colour)
        canvas.paste(img, ((canvas.width - img.width) // 2, (canvas.height - img.height) // 2))
        return canvas
    return apply


def watermark(img: Image.Image) -> Image.Image:
    """A semi-transparent white band with dark text over the bottom fifth of the image."""
    out = img.convert("RGBA")
    layer = Image.new("RGBA", out.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    w, h = out.size
    draw.rectangle((0, h * 4 // 5, w, h), fill=(255, 255, 255, 110))
    draw.text((w // 20, h * 4 // 5 + 2), "(c) stock", fill=(20, 20, 20, 200))
    return Image.alpha_composite(out, layer).convert("RGB")


def rotate(degrees: float) -> Callable[[Image.Image], Image.Image]:
    return lambda img: img.rotate(degrees, resample=Image.Resampling.BICUBIC)


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
    "rotate 3 deg": rotate(3),
    "horizontal flip": ImageOps.mirror,
}
# The build's defaults are measured on these (the sweep over K is of plain hashes only).
DEFAULT_TRANSFORMS: dict[str, Callable[[Image.Image], Image.Image]] = {
    **{k: v for k, v in TRANSFORMS.items() if not k.startswith(("crop", "rotate"))},
    "horizontal flip + jpeg q70": lambda img: jpeg_roundtrip(ImageOps.mirror(img), 70),
    **{f"crop {p}% per side": crop(p / 100) for p in (2, 3, 4, 5, 6, 8, 10)},
    "crop 4% left+top only": lambda img: img.crop((round(img.width * 0.04), round(img.height * 0.04),
                                                   img.width, img.height)),
    "letterbox black": pad(1.0, 4 / 3, (0, 0, 0)),
    "pillarbox white": pad(4 / 3, 1.0, (255, 255, 255)),
    "letterbox grey + jpeg q70": lambda img: jpeg_roundtrip(pad(1.0, 1.25, (128, 128, 128))(img), 70),
    "pillarbox black + resize 0.5x": lambda img: scale(0.5)(pad(1.4, 1.0, (0, 0, 0))(img)),
    "watermark band": watermark,
    **{f"rotate {d} deg": rotate(d) for d in (1, 2, 3)},
}
SMALL_EDITS = ("resize 0.5x", "resize 2x", "jpeg q90", "jpeg q70", "jpeg q50", "jpeg q30", "resize 0.5x + jpeg q70",
               "brightness +20%", "contrast -20%", "grayscale", "crop 2% per side", "crop 3% per side")


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


def keys_of(images: list[Image.Image], role: str, prefix: str) -> pa.Table:
    """KEYS of decoded images named prefix0, prefix1, ..."""
    batch = key_sources(images, role=role)
    return pa.table({"image_id": pa.array([f"{prefix}{i:06d}" for i in batch.row]),
                     "transform": pa.array(batch.transform), "hash": pa.array(batch.hash),
                     "check": pa.array(batch.check)}, schema=KEYS)


def plain_only(keys: pa.Table) -> pa.Table:
    """Only the plain keys, without check signatures: the search before search keys."""
    plain = keys.filter(pc.equal(keys["transform"], 0))
    return plain.set_column(3, "check", pa.array(np.zeros(plain.num_rows, np.uint64)))


def defaults_section(originals: list[Image.Image], crops: list[Image.Image], source: np.ndarray) -> str:
    """Recall and false matches of the build's default search, before and after search keys."""
    evals = keys_of(originals, "eval", "o")
    limits = {"before": (Limits(DEFAULT_MAX_DISTANCE, DEFAULT_MAX_DISTANCE, 64), plain_only),
              "after": (Limits(), lambda keys: keys)}
    lines = ["| transform | before recall | after recall | after: matched by | false pairs before / after |",
             "|---|---|---|---|---|"]
    recalls: dict[str, dict[str, float]] = {"before": {}, "after": {}}
    for name, t in DEFAULT_TRANSFORMS.items():
        train = keys_of([t(img) for img in originals], "train", "o")
        row, false_pairs, how = [], [], ""
        for label, (lim, select) in limits.items():
            pairs = dedup_keys(select(train), {"o": select(evals)}, lim)
            true = same_name(pairs)
            recalls[label][name] = true.sum() / len(originals)
            false_pairs.append(int((~true).sum()))
            row.append(f"{recalls[label][name]:.3f}")
            if label == "after":
                names, counts = np.unique(np.array(pairs["transform"].to_pylist())[true], return_counts=True)
                how = ", ".join(f"{n} {c}" for n, c in sorted(zip(names, counts), key=lambda x: -x[1])[:3])
        lines.append(f"| {name} | {row[0]} | {row[1]} | {how} | {false_pairs[0]} / {false_pairs[1]} |")
    small = {k: min(recalls[k][n] for n in SMALL_EDITS) for k in recalls}
    lines.append(f"| min over resizes, re-encodes, brightness, contrast, grayscale, crops <= 3% | "
                 f"{small['before']:.3f} | {small['after']:.3f} | | |")
    train_keys, eval_keys = keys_of(crops, "train", "c"), keys_of(crops, "eval", "c")
    n_ordered = len(crops) ** 2 - int((np.bincount(source) ** 2).sum())
    rates = []
    for lim, select in limits.values():
        rates.append(cross_photo_pairs(dedup_keys(select(train_keys), {"c": select(eval_keys)}, lim), source))
    n_keys = (len(train_keys) / len(crops), len(eval_keys) / len(crops))
    lines += ["", f"False matches over {n_ordered:,} ordered pairs of crops of different photographs "
                  f"({n_keys[0]:.2f} training and {n_keys[1]:.2f} evaluation keys per crop after): "
                  f"before {rates[0]} ({rates[0] / n_ordered:.1e}), after {rates[1]} ({rates[1] / n_ordered:.1e})."]
    return "\n".join(lines)


def cross_photo_pairs(pairs: pa.Table, source: np.ndarray) -> int:
    """Pairs of random crops (ids c<number>) that come from different photographs."""
    a, b = (np.array([int(x[1:]) for x in pairs[c].to_pylist()], np.int64) for c in ("image_id", "eval_image_id"))
    return int((source[a] != source[b]).sum())


def same_name(pairs: pa.Table) -> np.ndarray:
    """True where a pair's training copy is the copy of its evaluation original (same name)."""
    return np.array(pairs["image_id"].to_pylist()) == np.array(pairs["eval_image_id"].to_pylist())


def descriptor(images: list[Image.Image], side: int) -> np.ndarray:
    """The candidate second-tier descriptor: grayscale box-filtered to side x side, mean removed,
    L2-normalized (compared by cosine similarity)."""
    x = np.stack([np.asarray(img.convert("L").resize((side, side), Image.Resampling.BOX), np.float32).ravel()
                  for img in images])
    x -= x.mean(axis=1, keepdims=True)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-6)


def descriptor_section(originals: list[Image.Image]) -> str:
    """Recall of a numpy/Pillow thumbnail descriptor at thresholds set on unrelated crop pairs."""
    crops, source = random_crops(per_photo=200)
    names = ("rotate 1 deg", "rotate 2 deg", "rotate 3 deg", "crop 4% left+top only", "watermark band", "jpeg q30")
    lines = ["| descriptor | false-match rate | " + " | ".join(names) + " |", "|---" * (len(names) + 2) + "|"]
    for side in (8, 16):
        d = descriptor(crops, side)
        cross = source[:, None] != source[None, :]
        negatives = np.sort((d @ d.T)[cross])[::-1]
        base = descriptor(originals, side)
        copies = {n: descriptor([DEFAULT_TRANSFORMS[n](img) for img in originals], side) for n in names}
        for rate in (1e-4, 1e-6):
            threshold = negatives[int(len(negatives) * rate)]
            recall = [float(((copies[n] * base).sum(axis=1) >= threshold).mean()) for n in names]
            lines.append(f"| {side}x{side} | {rate:.0e} | " + " | ".join(f"{r:.3f}" for r in recall) + " |")
    return f"{len(negatives):,} ordered unrelated crop pairs set the thresholds\n\n" + "\n".join(lines)


def web_size(img: Image.Image) -> Image.Image:
    """The photograph with its longer side reduced to WEB_SIDE (LANCZOS) when larger."""
    img = img.copy()
    img.thumbnail((WEB_SIDE, WEB_SIDE), Image.Resampling.LANCZOS)
    return img


def image_numbers(ids: pa.ChunkedArray, n: int) -> np.ndarray:
    """Ids <set:02d>_<photo:06d> as set * n + photo (photo = number % n, set = number // n)."""
    return np.array([int(x[:2]) * n + int(x[3:]) for x in ids.to_pylist()], np.int64)


def unrelated_section() -> str:
    """False matches among unrelated photographs and their transformed copies, with the defaults."""
    files, missing = unrelated_photo_files()
    photos = [web_size(open_photo(path)) for _, path in files]
    sets = {"original": lambda img: img, **DEFAULT_TRANSFORMS}
    train, evals = [], []
    for s, t in enumerate(sets.values()):  # image id: <set:02d>_<photo:06d>
        images = [t(img) for img in photos]
        train.append(keys_of(images, "train", f"{s:02d}_"))
        evals.append(keys_of(images, "eval", f"{s:02d}_"))
    train_keys, eval_keys = pa.concat_tables(train), pa.concat_tables(evals)
    n, n_sets = len(photos), len(sets)
    lines = [f"{n} photographs from {len({s for s, _ in files})} sources, {n_sets - 1} transformed copies of each; "
             f"{train_keys.num_rows / (n * n_sets):.2f} training and {eval_keys.num_rows / (n * n_sets):.2f} "
             f"evaluation keys per image"] + [f"not found: {m}" for m in missing]
    n_ordered = (n * n_sets) ** 2 - n * n_sets ** 2
    recall: dict[str, list[float]] = {name: [] for name in list(sets)[1:]}
    for label, (lim, select) in {"before": (Limits(DEFAULT_MAX_DISTANCE, DEFAULT_MAX_DISTANCE, 64), plain_only),
                                 "after": (Limits(), lambda keys: keys)}.items():
        pairs = dedup_keys(select(train_keys), {"u": select(eval_keys)}, lim)
        a, b = (image_numbers(pairs[column], n) for column in ("image_id", "eval_image_id"))
        false = a % n != b % n
        originals = false & (a < n) & (b < n)
        lines.append(f"{label}: {int(false.sum())} false matches among {n_ordered:,} ordered pairs of images of "
                     f"different photographs ({int(originals.sum())} among the {n * (n - 1):,} pairs of originals)")
        for k in np.flatnonzero(false)[:20]:
            names = [f"{files[x % n][1].name} ({list(sets)[x // n]})" for x in (a[k], b[k])]
            lines.append(f"    {names[0]} ~ {names[1]}: {pairs['transform'][k]} at {pairs['distance'][k]}")
        found = (b < n) & (a % n == b % n)
        for s, name in enumerate(recall, start=1):
            recall[name].append(len(np.unique(a[found & (a // n == s)])) / n)
    rows = [f"| {name} | {r[0]:.3f} | {r[1]:.3f} |" for name, r in recall.items()]
    return "\n".join(lines + ["", "| copy found (of its own photograph) | before | after |", "|---|---|---|", *rows])


def rotated(degrees: float, crop_off: float = 0.0, fill: tuple[int, ...] | None = None
            ) -> Callable[[Image.Image], Image.Image]:
    """Rotation by `degrees` (corners filled with `fill`, black by default), then a centre crop."""
    def apply(img: Image.Image) -> Image.Image:
        out = img.rotate(degrees, resample=Image.Resampling.BICUBIC, fillcolor=fill)
        return centre_crop(out, crop_off) if crop_off else out
    return apply


def rotated_keys(images: list[Image.Image], prefix: str, crop_off: float) -> pa.Table:
    """KEYS of the candidate rotated evaluation keys (+-ROTATION degrees), searched like crop keys."""
    turns = [rotated(d, crop_off) for d in (-ROTATION, ROTATION)]
    pixels = np.stack([np.asarray(t(img.convert("L")).resize((PHASH_SIDE, PHASH_SIDE), Image.Resampling.LANCZOS))
                       for img in images for t in turns])
    ids = [f"{prefix}{i:06d}" for i in range(len(images)) for _ in turns]
    return pa.table({"image_id": pa.array(ids), "transform": pa.array(np.full(len(ids), CROP0, np.int8)),
                     "hash": pa.array(hash_thumbnails(pixels, "phash", False)),
                     "check": pa.array(check_signatures(pixels))}, schema=KEYS)


def rotation_section(originals: list[Image.Image], crops: list[Image.Image], source: np.ndarray) -> str:
    """Recall on rotated copies and false matches over the random crops, with and without the
    candidate rotated evaluation keys."""
    copies = {f"rotate {d} deg, {how}": keys_of([rotated(d, c, fill)(img) for img in originals], "train", "o")
              for d in (1, 2, 3) for how, c, fill in (("black corners", 0.0, None), ("white corners", 0.0, (255,) * 3),
                                                      ("corners cropped 4%", 0.04, None))}
    base = keys_of(originals, "eval", "o")
    crop_train, crop_eval = keys_of(crops, "train", "c"), keys_of(crops, "eval", "c")
    lines = ["| evaluation keys | " + " | ".join(copies) + " | false matches over crops | ms per evaluation image |",
             "|---" * (len(copies) + 3) + "|"]
    for name, crop_off in (("defaults", None), (f"+ rotated +-{ROTATION} deg", 0.0),
                           (f"+ rotated +-{ROTATION} deg, cropped {ROTATION_CROP:.0%}", ROTATION_CROP)):
        start = time.process_time()
        extra = [] if crop_off is None else [rotated_keys(originals, "o", crop_off)]
        ms = (time.process_time() - start) * 1000 / len(originals)
        recall = []
        for train in copies.values():
            recall.append(same_name(dedup_keys(train, {"o": pa.concat_tables([base, *extra])}, Limits())).sum())
        evals = pa.concat_tables([crop_eval, *([] if crop_off is None else [rotated_keys(crops, "c", crop_off)])])
        false = cross_photo_pairs(dedup_keys(crop_train, {"c": evals}, Limits()), source)
        lines.append(f"| {name} | " + " | ".join(f"{r / len(originals):.3f}" for r in recall)
                     + f" | {false} | +{ms:.2f} |")
    return "\n".join(lines)


def main() -> int:
    if "--unrelated-only" in sys.argv:
        print(unrelated_section())
        return 0
    originals = tiles(load_photos(), side=96, min_std=MIN_STD)
    crops, source = random_crops()
    if "--rotation-only" in sys.argv:
        print(rotation_section(originals, crops, source))
        return 0
    if "--defaults-only" in sys.argv:
        print(defaults_section(originals, crops, source))
        return 0
    if "--descriptor-only" in sys.argv:
        print(descriptor_section(originals))
        return 0
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
    print(f"### the build's defaults (pHash, K = {DEFAULT_MAX_DISTANCE}), before and after search keys\n")
    print(defaults_section(originals, crops, source))
    print("\n### a second-tier candidate: thumbnail descriptor, cosine similarity (not shipped)\n")
    print(descriptor_section(originals))
    print("\n### unrelated photographs and their copies, the build's defaults\n")
    print(unrelated_section())
    return 0


if __name__ == "__main__":
    sys.exit(main())
