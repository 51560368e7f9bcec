"""pHash/dHash: bit-identical to imagehash on real photographs, batch = single, fast-mode drift."""
from __future__ import annotations

import io
from pathlib import Path

import imagehash
import numpy as np
import pyarrow as pa
import pytest
from PIL import Image, ImageEnhance, ImageOps

from mlbuild._util.parquet import read_table, write_table
from mlbuild.cli import main
from mlbuild.images.hash_keys import hash_sources, key_table
from mlbuild.images.neardup import popcount
from mlbuild.images.phash import dhash_int, hash_images, pack_bits, phash_int


@pytest.fixture(scope="module")
def photo_paths(fixtures: Path) -> list[Path]:
    paths = sorted((fixtures / "images").glob("*.[jp][pn]g"))
    assert len(paths) == 6
    return paths


@pytest.fixture(scope="module")
def photos(photo_paths: list[Path]) -> list[Image.Image]:
    return [Image.open(p) for p in photo_paths]


def variants(img: Image.Image) -> list[Image.Image]:
    """The photo as stored plus derived images in other modes, sizes and contents."""
    w, h = img.size
    rgb = img.convert("RGB")
    return [img, rgb, img.convert("RGBA"), rgb.convert("P"), img.convert("L"),
            img.crop((w // 4, h // 5, w - w // 7, h - h // 3)), img.resize((37, 23)),
            img.resize((1000, 700)), ImageOps.mirror(img), img.rotate(90, expand=True),
            ImageEnhance.Brightness(rgb).enhance(1.3), img.crop((0, 0, 9, 8))]


def edge_cases() -> list[Image.Image]:
    """Flat and synthetic images, where ties at the median decide bits."""
    rng = np.random.default_rng(3)
    stripes = np.zeros((64, 64), np.uint8)
    stripes[:, ::5] = 255
    return [Image.new("L", (40, 30), 0), Image.new("L", (40, 30), 255), Image.new("RGB", (5, 3), (120, 30, 40)),
            Image.new("1", (32, 32), 1), Image.fromarray(stripes),
            Image.fromarray(rng.integers(0, 256, (50, 70, 3), dtype=np.uint8))]


def test_bit_order_first_cell_is_most_significant():
    bits = np.zeros((2, 64), bool)
    bits[0, 0] = bits[1, 63] = True
    assert pack_bits(bits).tolist() == [1 << 63, 1]


def test_phash_and_dhash_equal_imagehash_on_real_photographs(photos):
    images = [v for photo in photos for v in variants(photo)] + edge_cases()
    for img in images:
        assert phash_int(img) == int(str(imagehash.phash(img)), 16), img
        assert dhash_int(img) == int(str(imagehash.dhash(img)), 16), img


def test_batch_equals_single_image_hashes(photos):
    images = [v for photo in photos for v in variants(photo)] + edge_cases()
    for kind, single in (("phash", phash_int), ("dhash", dhash_int)):
        batch = hash_images(images, kind)
        assert batch.dtype == np.uint64
        assert batch.tolist() == [single(img) for img in images]
    assert hash_images([], "phash").shape == (0,)


def test_photos_have_distinct_hashes(photos):
    hashes = hash_images(photos)
    assert len(set(hashes.tolist())) == len(photos)
    assert popcount(hashes[:, None] ^ hashes[None, :])[np.triu_indices(len(photos), 1)].min() > 12


def test_unknown_kind_is_refused(photos):
    with pytest.raises(ValueError, match="unknown hash kind"):
        hash_images(photos, "ahash")


def test_hash_sources_reads_files_and_bytes_and_counts_bad_ones(photo_paths, tmp_path):
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(photo_paths[0].read_bytes()[:300])
    sources = [*photo_paths, broken, tmp_path / "missing.jpg", b"not an image"]
    batch = hash_sources(sources, "phash")
    assert batch.valid.tolist() == [True] * 6 + [False] * 3
    assert batch.skipped.count == 3
    assert [line for line, _ in batch.skipped.examples] == [7, 8, 9]
    assert batch.plain[:6].tolist() == [phash_int(Image.open(p)) for p in photo_paths]
    assert (batch.plain[6:] == 0).all()
    from_bytes = hash_sources([p.read_bytes() for p in photo_paths], "dhash")
    assert from_bytes.plain.tolist() == [dhash_int(Image.open(p)) for p in photo_paths]


def test_fast_mode_drifts_little_from_the_exact_definition(photo_paths):
    for kind in ("phash", "dhash"):
        exact = hash_sources(photo_paths, kind).plain
        fast = hash_sources(photo_paths, kind, fast=True)
        assert fast.valid.all()
        drift = popcount(exact ^ fast.plain)
        assert drift.max() <= 6, (kind, drift)
        png = [i for i, p in enumerate(photo_paths) if p.suffix == ".png"]
        assert (drift[png] == 0).all()  # no reduced decode for PNG; the matrix DCT agrees


def test_fast_mode_decodes_jpeg_at_reduced_scale(photo_paths):
    from mlbuild.images.phash import open_image
    jpeg = next(p for p in photo_paths if p.suffix == ".jpg")
    full = Image.open(jpeg).size
    with open_image(jpeg, "phash", fast=True) as img:
        img.load()
        assert img.mode == "L" and 64 <= min(img.size) < 128 and img.size[0] < full[0]


def test_hash_table_stage_appends_nullable_column(photo_paths, tmp_path):
    table = pa.table({"image_id": ["a", "b", "c", "d"],
                      "path": [str(photo_paths[0]), None, str(tmp_path / "missing.png"), str(photo_paths[1])]})
    out, keys, skipped = key_table(table, "phash", role="plain")
    assert out["hash_failure"].to_pylist() == [0, 1, 2, 0]  # hashed, no file, missing file
    assert keys["image_id"].to_pylist() == ["a", "d"]
    assert keys["hash"].to_pylist() == out["phash"].drop_null().to_pylist()
    assert out.schema.field("phash").type == pa.uint64()
    assert out["phash"].to_pylist() == [phash_int(Image.open(photo_paths[0])), None, None,
                                        phash_int(Image.open(photo_paths[1]))]
    assert skipped.count == 1 and skipped.examples[0][0] == 3


def test_cli_hash_folder_and_manifest(photo_paths, tmp_path, capsys):
    folder = tmp_path / "imgs"
    (folder / "sub").mkdir(parents=True)
    for p in photo_paths:
        (folder / "sub" / p.name).write_bytes(p.read_bytes())
    (folder / "notes.txt").write_text("not an image")
    (folder / "bad.jpg").write_bytes(b"\xff\xd8 truncated")
    out = tmp_path / "hashes.parquet"
    assert main(["hash", str(folder), "--out", str(out), "--workers", "2"]) == 0
    table = read_table(out)
    assert table.column_names == ["image_id", "path", "phash"]
    assert table["image_id"].to_pylist() == ["bad.jpg", *sorted(f"sub/{p.name}" for p in photo_paths)]
    assert table["phash"].to_pylist() == [None, *(phash_int(Image.open(folder / i))
                                                  for i in table["image_id"].to_pylist()[1:])]
    assert table.schema.metadata[b"mlbuild.hash_kind"] == b"phash"
    assert "6 of 7 images hashed" in capsys.readouterr().out
    twice = tmp_path / "twice.parquet"
    main(["hash", str(folder), "--out", str(twice), "--workers", "1"])
    assert twice.read_bytes() == out.read_bytes()  # deterministic, whatever the worker count
    again = tmp_path / "again.parquet"
    main(["hash", str(out), "--out", str(again), "--kind", "dhash", "--fast", "--workers", "1"])
    manifest_hashes = read_table(again)
    assert manifest_hashes["image_id"] == table["image_id"]
    assert manifest_hashes.column_names == ["image_id", "path", "dhash"]


def test_cli_hash_names_a_missing_input_or_column(tmp_path, capsys):
    assert main(["hash", str(tmp_path / "nowhere"), "--out", str(tmp_path / "h.parquet")]) == 2
    assert "nowhere" in capsys.readouterr().err
    write_table(pa.table({"image_id": ["a"]}), tmp_path / "ids.parquet")
    assert main(["hash", str(tmp_path / "ids.parquet"), "--out", str(tmp_path / "h.parquet")]) == 2
    assert "ids.parquet: field 'path'" in capsys.readouterr().err
    assert not (tmp_path / "h.parquet").exists()


def test_flip_defeats_the_hash_but_reencoding_does_not(photos):
    """Not a guarantee of the definition, a sanity check of what the hash is for."""
    for photo in photos:
        h = phash_int(photo)
        buf = io.BytesIO()
        photo.convert("RGB").save(buf, "JPEG", quality=50)
        assert bin(h ^ phash_int(Image.open(buf))).count("1") <= 6
        assert bin(h ^ phash_int(ImageOps.mirror(photo))).count("1") > 6
