"""Search keys of an image: its hash under a few transforms, each with a check signature.

The plain key is the image's perceptual hash as `mlbuild.images.phash` defines it
(imagehash-compatible). The other keys make the train x evaluation search see through edits
that a 64-bit hash does not survive:
- `trimmed`: the image inside its uniform borders (letterbox / pillarbox bars of any flat
  colour, see `border_box`), on both sides, when it has such borders;
- `mirrored` (evaluation side only): the horizontally flipped image, and the flipped trimmed image;
- `crop1..n` (evaluation side only): centre crops of the (trimmed) image, `CROPS` of each side.
Keys are computed from the grayscale image every hash starts from (`convert("L")`), so a
variant costs one crop or flip and one thumbnail, not another decode.

Every key carries a 64-bit *check* signature of the same thumbnail: the 32x32 pHash thumbnail
averaged down to 8 rows x 9 columns, bit = left cell darker than its right neighbour (a
dHash of the thumbnail). A pair is reported only when its hashes are within K and its checks
within `CHECK_DISTANCE`: unrelated images that collide in pHash rarely collide in both, which
pays for the extra keys' false matches (docs/dedup.md has the measurements). dHash keys have
no check (0 on both sides, so the check always passes).
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from PIL import Image

from mlbuild.errors import SkipReport
from mlbuild.images.phash import PHASH_SIDE, Source, hash_thumbnails, open_image, pack_bits, thumbnail_size

ROLES = ("plain", "train", "eval")  # plain: the plain key only
FAILURES = ("hashed", "no_file", "missing_file", "undecodable")  # why an image has no hash
# centre crops of evaluation images, fraction cut from each side (docs/dedup.md: chosen from measurements)
CROPS = (0.012, 0.023, 0.034, 0.045, 0.056, 0.067, 0.078, 0.089, 0.1)
TRIM_TOLERANCE = 10              # grey levels a border pixel may differ from the border's colour
TRIM_SHARE = 0.98                # share of a line's pixels within tolerance for it to be border
TRIM_MIN_LINES = 0.02            # a border thinner than this share of the side is left alone
TRIM_MIN_KEEP = 0.3              # never trim below this share of a side (flat images stay whole)
CHECK_DISTANCE = 16              # largest check-signature distance of a reported pair

PLAIN, TRIMMED, MIRRORED, TRIMMED_MIRRORED = 0, 1, 2, 3
TRANSFORMS = ("plain", "trimmed", "mirrored", "trimmed+mirrored",
              *(f"crop{k + 1}" for k in range(len(CROPS))))
CROP0 = 4  # code of crop1

KEYS = pa.schema([
    pa.field("image_id", pa.string(), nullable=False),
    pa.field("transform", pa.int8(), nullable=False),   # index into TRANSFORMS
    pa.field("hash", pa.uint64(), nullable=False),
    pa.field("check", pa.uint64(), nullable=False),
])

# Averages the 32 thumbnail columns into 9 (as even as integer bounds allow).
_EDGES = np.round(np.arange(10) * PHASH_SIDE / 9).astype(int)
_COLUMN_BINS = np.zeros((PHASH_SIDE, 9))
for _c in range(9):
    _COLUMN_BINS[_EDGES[_c]:_EDGES[_c + 1], _c] = 1.0 / (_EDGES[_c + 1] - _EDGES[_c])


def check_signatures(pixels: np.ndarray) -> np.ndarray:
    """Check signatures of a stack of 32x32 thumbnails: dHash of their 8x9 block means."""
    rows = pixels.astype(np.float64).reshape(len(pixels), 8, PHASH_SIDE // 8, PHASH_SIDE).mean(axis=2)
    cells = np.round(rows @ _COLUMN_BINS, 6)
    return pack_bits(cells[:, :, 1:] > cells[:, :, :-1])


def _leading_border(lines: np.ndarray, tolerance: int) -> tuple[int, float]:
    """How many of the first lines (rows of `lines`) are of one flat colour, and that colour
    (the first line's median)."""
    colour = float(np.median(lines[0]))
    if (np.abs(lines[0].astype(np.int16) - colour) <= tolerance).mean() < TRIM_SHARE:
        return 0, colour  # most images: one line looked at per side
    flat = (np.abs(lines.astype(np.int16) - colour) <= tolerance).mean(axis=1) >= TRIM_SHARE
    return (len(flat) if flat.all() else int(np.argmin(flat))), colour


def _bars(gray: np.ndarray, tolerance: int) -> tuple[int, int]:
    """Widths of a pair of bars at the first and last rows of `gray`: both at least TRIM_MIN_LINES
    of the side and of about one colour (within 2 x tolerance), else (0, 0)."""
    (a, colour_a), (b, colour_b) = _leading_border(gray, tolerance), _leading_border(gray[::-1], tolerance)
    wide = min(a, b) >= max(1.0, TRIM_MIN_LINES * len(gray))
    return (a, b) if wide and abs(colour_a - colour_b) <= 2 * tolerance else (0, 0)


def border_box(gray: np.ndarray, tolerance: int | None = None) -> tuple[int, int, int, int] | None:
    """(left, top, right, bottom) of a grayscale image inside its uniform borders, or None.

    Borders come in pairs, as letterboxes (top and bottom) and pillarboxes (left and right) do:
    each side is walked inwards while whole lines (at least TRIM_SHARE of their pixels) stay
    within `tolerance` of that side's outermost line's median (black, white or any flat colour),
    and a pair counts when both its bars are at least TRIM_MIN_LINES of the side and of about
    the same colour. A box smaller than TRIM_MIN_KEEP of either side is refused (a flat or
    nearly flat image stays whole). One-sided flat areas (a dark sky) are not borders.
    """
    tolerance = TRIM_TOLERANCE if tolerance is None else tolerance
    h, w = gray.shape
    top, bottom = _bars(gray, tolerance)
    left, right = _bars(gray.T, tolerance)
    if not top + bottom + left + right:
        return None
    if h - top - bottom < TRIM_MIN_KEEP * h or w - left - right < TRIM_MIN_KEEP * w:
        return None
    return left, top, w - right, h - bottom


def centre_crop(img: Image.Image, fraction: float) -> Image.Image:
    """The image without `fraction` of its width and height on every side."""
    w, h = img.size
    dx, dy = round(w * fraction), round(h * fraction)
    return img.crop((dx, dy, w - dx, h - dy))


def variants(gray: Image.Image, role: str) -> list[tuple[int, Image.Image]]:
    """(transform code, image) of every key of a grayscale image for a role (ROLES)."""
    if role not in ROLES:
        raise ValueError(f"unknown key role {role!r}; expected one of {ROLES}")
    if role == "plain":
        return [(PLAIN, gray)]
    box = border_box(np.asarray(gray))
    trimmed = gray.crop(box) if box else None
    out = [(PLAIN, gray)] + ([(TRIMMED, trimmed)] if trimmed else [])
    if role == "eval":
        out.append((MIRRORED, gray.transpose(Image.Transpose.FLIP_LEFT_RIGHT)))
        if trimmed:
            out.append((TRIMMED_MIRRORED, trimmed.transpose(Image.Transpose.FLIP_LEFT_RIGHT)))
        out += [(CROP0 + k, centre_crop(trimmed or gray, f)) for k, f in enumerate(CROPS)]
    return out


class KeyBatch(NamedTuple):
    """Keys of a batch of sources: the plain hash per source and every key in long form."""

    plain: np.ndarray       # (n,) uint64, 0 where invalid
    valid: np.ndarray       # (n,) bool: False where the source could not be decoded
    row: np.ndarray         # (k,) int64: source row of each key
    transform: np.ndarray   # (k,) int8
    hash: np.ndarray        # (k,) uint64
    check: np.ndarray       # (k,) uint64
    failure: np.ndarray     # (n,) int8: index into FAILURES (0 where hashed)
    skipped: SkipReport


def _grayscale(source: Source | Image.Image, kind: str, fast: bool) -> Image.Image:
    """The decoded grayscale image every key starts from."""
    if isinstance(source, Image.Image):
        return source.convert("L")
    with open_image(source, kind, fast) as img:
        return img.convert("L")


def key_sources(sources: Sequence[Source | Image.Image], kind: str = "phash", fast: bool = False,
                role: str = "train", name: str = "images") -> KeyBatch:
    """Keys of files, encoded bytes or decoded images; undecodable ones are counted (1-based row)
    and have no key."""
    size = thumbnail_size(kind)
    thumbs, rows, codes = [], [], []
    valid = np.zeros(len(sources), bool)
    failure = np.zeros(len(sources), np.int8)
    skipped = SkipReport(name)
    for i, source in enumerate(sources):
        try:
            gray = _grayscale(source, kind, fast)
            found = [(code, np.asarray(v.resize(size, Image.Resampling.LANCZOS))) for code, v in variants(gray, role)]
        except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as err:
            skipped.add(i + 1, f"{type(err).__name__}: {err}")
            failure[i] = FAILURES.index("missing_file" if isinstance(err, FileNotFoundError) else "undecodable")
            continue
        valid[i] = True
        rows += [i] * len(found)
        codes += [code for code, _ in found]
        thumbs += [t for _, t in found]
    pixels = np.stack(thumbs) if thumbs else np.zeros((0, size[1], size[0]), np.uint8)
    hashes = hash_thumbnails(pixels, kind, fast)
    checks = check_signatures(pixels) if kind == "phash" else np.zeros(len(pixels), np.uint64)
    row, code = np.array(rows, np.int64), np.array(codes, np.int8)
    plain = np.zeros(len(sources), np.uint64)
    plain[row[code == PLAIN]] = hashes[code == PLAIN]
    return KeyBatch(plain, valid, row, code, hashes, checks, failure, skipped)


def hash_sources(sources: Sequence[Source], kind: str = "phash", fast: bool = False,
                 name: str = "images") -> KeyBatch:
    """The plain hash of files or encoded bytes (`.plain`, 0 where `.valid` is False)."""
    return key_sources(sources, kind, fast, "plain", name)


def key_table(table: pa.Table, kind: str = "phash", fast: bool = False, role: str = "train",
              path_column: str = "path") -> tuple[pa.Table, pa.Table, SkipReport]:
    """Stage over a shard of (image_id, path, ...): the table with a nullable `kind` column (the
    plain hash; null where the path is null or the file missing or undecodable) and an int8
    `hash_failure` column (index into FAILURES), the KEYS table of its images, and the files that
    could not be read (rows 1-based in `table`)."""
    paths = table[path_column]
    present = pc.is_valid(paths).to_numpy(zero_copy_only=False)
    rows = np.flatnonzero(present)
    batch = key_sources(paths.filter(present).to_pylist(), kind, fast, role, name=path_column)
    skipped = SkipReport(batch.skipped.path, count=batch.skipped.count,
                         examples=[(int(rows[line - 1]) + 1, why) for line, why in batch.skipped.examples])
    hashes = np.zeros(len(table), np.uint64)
    hashes[rows] = batch.plain
    valid = np.zeros(len(table), bool)
    valid[rows] = batch.valid
    column = pa.array(hashes, pa.uint64(), mask=~valid)
    failure = np.full(len(table), FAILURES.index("no_file"), np.int8)
    failure[rows] = batch.failure
    keys = pa.table({"image_id": table["image_id"].take(pa.array(rows[batch.row])),
                     "transform": pa.array(batch.transform, pa.int8()),
                     "hash": pa.array(batch.hash, pa.uint64()),
                     "check": pa.array(batch.check, pa.uint64())}, schema=KEYS)
    table = table.append_column(pa.field(kind, pa.uint64()), column).append_column("hash_failure", pa.array(failure))
    return table, keys, skipped


def hash_table(table: pa.Table, kind: str = "phash", fast: bool = False,
               path_column: str = "path") -> tuple[pa.Table, SkipReport]:
    """The table with a nullable `kind` column: the plain hash of the file named in `path_column`
    (null where the path is null or the file missing or undecodable), and the unreadable files."""
    hashed, _, skipped = key_table(table, kind, fast, "plain", path_column)
    return hashed.drop_columns(["hash_failure"]), skipped
