"""Search keys: trimming uniform borders, mirrored and cropped evaluation keys, check signatures,
and the key search against a brute-force reference."""
from __future__ import annotations

import io
from itertools import product
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from PIL import Image, ImageOps

from mlbuild.images.hash_keys import (
    CROP0,
    CROPS,
    KEYS,
    MIRRORED,
    PLAIN,
    TRANSFORMS,
    TRIMMED,
    TRIMMED_MIRRORED,
    border_box,
    key_sources,
)
from mlbuild.images.neardup import Limits, dedup_keys, transform_names
from mlbuild.images.phash import phash_int


@pytest.fixture(scope="module")
def photos(fixtures: Path) -> list[Image.Image]:
    return [Image.open(p).convert("RGB") for p in sorted((fixtures / "images").glob("*.[jp][pn]g"))]


def padded(img: Image.Image, width: int, height: int, colour: tuple[int, int, int]) -> Image.Image:
    canvas = Image.new("RGB", (img.width + 2 * width, img.height + 2 * height), colour)
    canvas.paste(img, (width, height))
    return canvas


def jpeg(img: Image.Image, quality: int = 75) -> Image.Image:
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=quality)
    return Image.open(io.BytesIO(buf.getvalue())).convert("RGB")


def test_border_box_finds_letterboxes_and_pillarboxes_of_any_flat_colour(photos):
    img = photos[0]
    for width, height, colour in ((0, 40, (0, 0, 0)), (30, 0, (255, 255, 255)), (12, 25, (90, 140, 30))):
        box = border_box(np.asarray(jpeg(padded(img, width, height, colour)).convert("L")))
        assert box is not None
        left, top, right, bottom = box
        assert abs(left - width) <= 2 and abs(top - height) <= 2
        assert abs(right - (width + img.width)) <= 2 and abs(bottom - (height + img.height)) <= 2


def test_border_box_leaves_photos_one_sided_bands_and_flat_images_alone(photos):
    for img in photos:
        assert border_box(np.asarray(img.convert("L"))) is None
    banded = photos[0].copy()
    banded.paste((0, 0, 0), (0, 0, banded.width, 40))  # a dark band on one side only: content, not a border
    assert border_box(np.asarray(banded.convert("L"))) is None
    assert border_box(np.full((50, 80), 200, np.uint8)) is None


def test_keys_per_role_and_plain_key_is_the_imagehash_phash(photos):
    boxed = padded(photos[1], 0, 40, (0, 0, 0))
    train = key_sources([photos[0], boxed], role="train")
    assert train.row.tolist() == [0, 1, 1] and train.transform.tolist() == [PLAIN, PLAIN, TRIMMED]
    assert train.plain.tolist() == [phash_int(photos[0]), phash_int(boxed)]
    assert train.hash[2] == phash_int(photos[1])  # the trimmed key is the unboxed photo's hash
    evals = key_sources([photos[0], boxed], role="eval")
    crops = [CROP0 + k for k in range(len(CROPS))]
    assert evals.transform.tolist() == [PLAIN, MIRRORED, *crops, PLAIN, TRIMMED, MIRRORED, TRIMMED_MIRRORED, *crops]
    assert evals.hash[1] == phash_int(ImageOps.mirror(photos[0]))
    assert key_sources([photos[0]], role="plain").transform.tolist() == [PLAIN]


def test_unreadable_sources_are_counted_with_their_reason(tmp_path, photos):
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8 not a jpeg")
    batch = key_sources([photos[0], broken, tmp_path / "missing.jpg"], role="eval")
    assert batch.valid.tolist() == [True, False, False]
    assert batch.failure.tolist() == [0, 3, 2]  # hashed, undecodable, missing_file
    assert set(batch.row.tolist()) == {0} and batch.skipped.count == 2


def keys_of(images: list[Image.Image], role: str, names: list[str]) -> pa.Table:
    batch = key_sources(images, role=role)
    return pa.table({"image_id": pa.array([names[r] for r in batch.row]), "transform": pa.array(batch.transform),
                     "hash": pa.array(batch.hash), "check": pa.array(batch.check)}, schema=KEYS)


def test_mirrored_letterboxed_and_cropped_copies_are_found_with_their_transform(photos):
    originals = photos[:4]
    copies = [jpeg(ImageOps.mirror(originals[0])), jpeg(padded(originals[1], 0, 50, (0, 0, 0))),
              originals[2].resize((originals[2].width // 2, originals[2].height // 2)),
              originals[3].crop((5, 5, originals[3].width - 5, originals[3].height - 5))]
    unrelated = [photos[4], ImageOps.mirror(photos[5])]
    train = keys_of(copies + unrelated, "train", ["m", "l", "r", "c", "u1", "u2"])
    evals = keys_of(originals, "eval", ["o0", "o1", "o2", "o3"])
    pairs = dedup_keys(train, {"val": evals}, Limits()).to_pylist()
    found = {(p["image_id"], p["eval_image_id"]): p["transform"] for p in pairs}
    assert set(found) == {("m", "o0"), ("l", "o1"), ("r", "o2"), ("c", "o3")}
    assert found["m", "o0"] == "mirrored" and found["l", "o1"] == "trimmed" and found["r", "o2"] == "plain"
    assert found["c", "o3"].startswith("crop")
    before = dedup_keys(train.filter(pa.compute.equal(train["transform"], 0)),
                        {"val": evals.filter(pa.compute.equal(evals["transform"], 0))}, Limits())
    assert {(p["image_id"], p["eval_image_id"]) for p in before.to_pylist()} <= {("r", "o2"), ("c", "o3")}


def test_transform_names():
    t = np.array([PLAIN, TRIMMED, TRIMMED, PLAIN, TRIMMED])
    e = np.array([PLAIN, PLAIN, TRIMMED_MIRRORED, CROP0 + 1, CROP0])
    assert transform_names(t, e).to_pylist() == ["plain", "trimmed", "trimmed+mirrored", "crop2", "trimmed+crop1"]


def reference_pairs(train: list[tuple], evals: list[tuple], limits: Limits) -> dict:
    """Brute force: every key pair, the limits applied as documented, the closest kept per image pair."""
    best: dict = {}
    for (ti, tc, th, tk), (ei, ec, eh, ek) in product(train, evals):
        d = bin(th ^ eh).count("1")
        limit = limits.plain if ec in (PLAIN, TRIMMED) else limits.extra
        if d <= limit and bin(tk ^ ek).count("1") <= limits.check:
            rank = (d, tc * 64 + ec)
            if (ti, ei) not in best or rank < best[ti, ei][0]:
                best[ti, ei] = (rank, th)
    return {k: (rank[0], h) for k, (rank, h) in best.items()}


@pytest.mark.parametrize("seed", range(4))
def test_key_search_matches_brute_force(seed):
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 2 ** 64, (12, 2), dtype=np.uint64)  # (hash, check) of a dozen "scenes"

    def near(h: np.uint64, bits: int) -> int:
        for i in rng.integers(0, 64, bits):
            h ^= np.uint64(1) << np.uint64(i)
        return int(h)

    def keys(prefix: str, n_images: int, codes: list[int]) -> list[tuple]:
        rows = []
        for i in range(n_images):
            for _ in range(int(rng.integers(1, 4))):
                b = rng.integers(0, len(base))
                rows.append((f"{prefix}{i}", int(rng.choice(codes)), near(base[b, 0], int(rng.integers(0, 5))),
                             near(base[b, 1], int(rng.integers(0, 14)))))
        return rows

    train = keys("t", 60, [PLAIN, TRIMMED])
    evals = keys("e", 40, list(range(len(TRANSFORMS))))
    limits = Limits(int(rng.integers(2, 8)), int(rng.integers(0, 8)), int(rng.integers(4, 16)))
    table = lambda rows: pa.table(dict(zip(KEYS.names, map(list, zip(*rows)))), schema=KEYS)  # noqa: E731
    pairs = dedup_keys(table(train), {"s": table(evals)}, limits).to_pylist()
    assert {(p["image_id"], p["eval_image_id"]): (p["distance"], p["hash"]) for p in pairs} == \
        reference_pairs(train, evals, limits)
    assert len(pairs) == len({(p["image_id"], p["eval_image_id"]) for p in pairs})
    assert len(pairs) >= 20  # the shared scenes give plenty of pairs
