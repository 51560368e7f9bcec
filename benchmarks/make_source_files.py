"""Generate full-size source files in the exact real formats, vectorized (numpy + pyarrow).

- fall11_urls.txt: `n########_#<TAB>url` LF lines (14,197,122 at scale 1), with some
  non-UTF-8 URLs, lines without a TAB and lines with a second TAB.
- oidv6 image list: the 12-column header, quoted AuthorProfileURL/Author/Title with
  commas and doubled quotes, base64 OriginalMD5, ~2.5% empty Thumbnail300KURL,
  Rotation 0.0/90.0/.../empty/nan (9,011,219 rows at scale 1).
- oidv6 human image labels: `ImageID,Source,LabelName,Confidence`, 1/3 positive,
  `1`, `0` and a few `1.0` (57,524,352 rows at scale 1).

Rows are built as whole Arrow string columns and joined element-wise, and the
joined buffer is written as is: no Python loop per row.
"""
from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

FALL11_LINES = 14_197_122
OI_IMAGES = 9_011_219
OI_LABELS = 57_524_352
CHUNK = 2_000_000
_HEX = np.frombuffer(b"0123456789abcdef", np.uint8)
_B64 = np.frombuffer(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/", np.uint8)
AUTHORS = ["David", "Ann O'Neil", "Smith, John", 'The "Photographer"', "Zoë Ça", "J.R.R., Jr."]
TITLES = ["28 Nov 2010 Our new house.", "Dogs, cats, and birds", 'He said "hello", then left',
          "Sunset", "Café au lait — Paris", "IMG_0001", "a, b, \"c\", d"]
LICENSES = ["https://creativecommons.org/licenses/by/2.0/", "https://creativecommons.org/licenses/by-sa/2.0/"]
ROTATIONS = ["0.0", "90.0", "180.0", "270.0", "", "nan"]


def _str(values: np.ndarray) -> pa.Array:
    return pa.array(values).cast(pa.string())


def _pick(rng: np.random.Generator, pool: list[str], n: int, p: list[float] | None = None) -> pa.Array:
    return pa.array(pool).take(pa.array(rng.choice(len(pool), n, p=p)))


def _quoted(pool: list[str]) -> list[str]:
    return ['"' + s.replace('"', '""') + '"' for s in pool]


def hex16(values: np.ndarray) -> pa.Array:
    """Each uint64 as 16 lowercase hex digits (Open Images ImageID)."""
    raw = values.astype(">u8").view(np.uint8).reshape(-1, 8)
    digits = np.stack([_HEX[raw >> 4], _HEX[raw & 15]], axis=2).reshape(-1, 16)
    return pa.FixedSizeBinaryArray.from_buffers(pa.binary(16), len(values), [None, pa.py_buffer(digits)]) \
        .cast(pa.binary()).cast(pa.string())


def base64_md5(digests: np.ndarray) -> pa.Array:
    """Base64 of 16-byte digests (n x 16 uint8), as Open Images writes OriginalMD5."""
    padded = np.concatenate([digests, np.zeros((len(digests), 2), np.uint8)], axis=1).reshape(-1, 6, 3)
    bits = (padded[..., 0].astype(np.uint32) << 16) | (padded[..., 1].astype(np.uint32) << 8) | padded[..., 2]
    sextets = np.stack([(bits >> s) & 63 for s in (18, 12, 6, 0)], axis=2).reshape(-1, 24)
    chars = _B64[sextets]
    chars[:, 22:] = ord("=")
    return pa.FixedSizeBinaryArray.from_buffers(pa.binary(24), len(digests), [None, pa.py_buffer(chars)]) \
        .cast(pa.binary()).cast(pa.string())


def _write_joined(f: BinaryIO, lines: pa.Array) -> None:
    """Write the concatenated values of a string/binary array (its data buffer slice)."""
    lines = pa.concat_arrays([lines])
    offsets = np.frombuffer(lines.buffers()[1], np.int32, len(lines) + 1, 4 * lines.offset)
    f.write(memoryview(lines.buffers()[2])[offsets[0]:offsets[-1]])


def fall11_chunk(rng: np.random.Generator, wnids: np.ndarray, n: int) -> pa.Array:
    """n fall11 lines, ~80 bytes each, 64% Flickr URLs, with the real file's defects."""
    wnid = pc.utf8_lpad(_str(wnids[rng.integers(0, len(wnids), n)]), 8, "0")
    ids = pc.binary_join_element_wise("n", wnid, "_", _str(rng.integers(1, 300_000, n)), "")
    server, photo = _str(rng.integers(1000, 9999, n)), _str(rng.integers(10**8, 10**10, n))
    flickr = pc.binary_join_element_wise(
        "http://farm", _str(rng.integers(1, 9, n)), ".static.flickr.com/", server, "/", photo, "_",
        pc.utf8_lpad(_str(rng.integers(0, 10**10, n)), 10, "0"), ".jpg", "")
    other = pc.binary_join_element_wise("http://www.site", server, ".example.com/images/photos/", photo,
                                        ".jpg", "")
    url = pc.if_else(pa.array(rng.random(n) < 0.64), flickr, other).cast(pa.binary())
    defect = rng.random(n)
    latin1 = pc.binary_join_element_wise(url.cast(pa.binary()), pa.scalar(b"caf\xe9.jpg"), b"")
    url = pc.if_else(pa.array(defect < 2e-4), latin1, url)
    sep = pc.if_else(pa.array((defect > 0.9999) & (defect < 0.99995)), " ", "\t").cast(pa.binary())
    tail = pc.if_else(pa.array(defect >= 0.99995), "\textra", "").cast(pa.binary())
    return pc.binary_join_element_wise(ids.cast(pa.binary()), sep, url, tail, b"\n", b"")


def write_fall11(path: Path, lines: int, seed: int = 0) -> None:
    """A fall11_urls.txt of `lines` lines (atomically written)."""
    rng = np.random.default_rng(seed)
    wnids = np.sort(rng.choice(np.arange(1_000_000, 15_000_000), 21_841, replace=False))
    with _atomic(path) as f:
        for start in range(0, lines, CHUNK):
            _write_joined(f, fall11_chunk(rng, wnids, min(CHUNK, lines - start)))


def oi_image_chunk(rng: np.random.Generator, ids: pa.Array) -> pa.Array:
    """Open Images image-list rows (no header) for the given ImageIDs."""
    n = len(ids)
    farm, server = _str(rng.integers(1, 9, n)), _str(rng.integers(1000, 9999, n))
    photo, user = _str(rng.integers(10**9, 10**10, n)), _str(rng.integers(10**6, 10**8, n))
    base = pc.binary_join_element_wise("https://c", farm, ".staticflickr.com/", farm, "/", server, "/", photo, "")
    original = pc.binary_join_element_wise(base, "_", pc.utf8_lpad(_str(rng.integers(0, 10**10, n)), 10, "0"),
                                           "_o.jpg", "")
    thumb = pc.binary_join_element_wise(base, "_", pc.utf8_lpad(_str(rng.integers(0, 10**10, n)), 10, "0"),
                                        "_z.jpg", "")
    thumb = pc.if_else(pa.array(rng.random(n) < 0.025), "", thumb)
    columns = [ids, pa.repeat("train", n), original,
               pc.binary_join_element_wise("https://www.flickr.com/photos/", user, "/", photo, ""),
               _pick(rng, LICENSES, n),
               pc.binary_join_element_wise('"https://www.flickr.com/people/', user, '/"', ""),
               _pick(rng, _quoted(AUTHORS), n), _pick(rng, _quoted(TITLES), n),
               _str(rng.integers(10_000, 5_000_000, n)),
               base64_md5(rng.integers(0, 256, (n, 16), dtype=np.uint8)), thumb,
               _pick(rng, ROTATIONS, n, p=[0.9, 0.03, 0.02, 0.02, 0.02, 0.01])]
    return pc.binary_join_element_wise(*columns[:1], *[x for c in columns[1:] for x in (",", c)], "\n", "")


def oi_label_chunk(rng: np.random.Generator, ids: pa.Array, mids: pa.Array, per_image: float) -> pa.Array:
    """Human image-label rows: a Poisson number of labels per image, 1/3 positive."""
    counts = rng.poisson(per_image, len(ids))
    image = ids.take(pa.array(np.repeat(np.arange(len(ids)), counts)))
    n = len(image)
    conf = _pick(rng, ["1", "0", "1.0"], n, p=[0.3449, 0.655, 0.0001])
    return pc.binary_join_element_wise(
        image, ",", _pick(rng, ["verification", "crowdsource-verification"], n, p=[0.85, 0.15]), ",",
        mids.take(pa.array(rng.integers(0, len(mids), n))), ",", conf, "\n", "")


OI_IMAGE_HEADER = ("ImageID,Subset,OriginalURL,OriginalLandingURL,License,AuthorProfileURL,Author,Title,"
                   "OriginalSize,OriginalMD5,Thumbnail300KURL,Rotation\n")


def _image_ids(rng: np.random.Generator, n: int) -> pa.Array:
    return hex16(np.sort(rng.integers(0, 2**63, n, dtype=np.uint64)))


def write_oi_images(path: Path, rows: int, seed: int = 1) -> None:
    """An Open Images image list of `rows` rows."""
    rng = np.random.default_rng(seed)
    with _atomic(path) as f:
        f.write(OI_IMAGE_HEADER.encode())
        for start in range(0, rows, CHUNK):
            _write_joined(f, oi_image_chunk(rng, _image_ids(rng, min(CHUNK, rows - start))))


def write_oi_labels(path: Path, rows: int, seed: int = 2) -> None:
    """A human image-label file of about `rows` rows (6.4 labels per image)."""
    rng = np.random.default_rng(seed)
    mids = pc.binary_join_element_wise("/m/0", _str(rng.integers(10**4, 10**7, 19_994)), "")
    per_image = OI_LABELS / OI_IMAGES
    with _atomic(path) as f:
        f.write(b"ImageID,Source,LabelName,Confidence\n")
        images = int(rows / per_image)
        for start in range(0, images, CHUNK // 8):
            ids = _image_ids(rng, min(CHUNK // 8, images - start))
            _write_joined(f, oi_label_chunk(rng, ids, mids, per_image))


@contextmanager
def _atomic(path: Path) -> Iterator[BinaryIO]:
    """Write to `path.tmp`, then rename into place (so a killed run leaves no half file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    try:
        with open(tmp, "wb") as f:
            yield f
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
