"""Multi-index Hamming search: equal to brute force (near pairs at exactly K and K + 1), tables, CLI."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from PIL import Image, ImageOps

from mlbuild._util.parquet import read_table, write_table
from mlbuild.cli import main
from mlbuild.images import neardup as dedup
from mlbuild.images.neardup import (
    PAIRS,
    Block,
    dedup_pairs,
    expand_ranges,
    hamming_pairs,
    layout,
    plan_blocks,
    popcount,
    popcount_table,
    spread_bits,
)

RNG = np.random.default_rng(20240607)


def brute_force(train: np.ndarray, evals: np.ndarray, k: int):
    dist = popcount(train[:, None] ^ evals[None, :])
    i, j = np.nonzero(dist <= k)
    return i, j, dist[i, j]


def flip(h: np.ndarray, n_bits: int) -> np.ndarray:
    """h with n_bits distinct random bits flipped."""
    masks = [np.uint64(sum(1 << int(b) for b in RNG.choice(64, n_bits, replace=False))) for _ in h]
    return h ^ np.array(masks, np.uint64)


def random_with_near_pairs(n: int, m: int, k: int):
    """Random hashes plus eval hashes planted at distance exactly k - 1, k, k + 1 and 0 from train."""
    train = RNG.integers(0, 2 ** 64, n, dtype=np.uint64)
    evals = RNG.integers(0, 2 ** 64, m, dtype=np.uint64)
    planted = RNG.choice(m, 4 * (m // 8), replace=False).reshape(4, -1)
    for rows, d in zip(planted, (max(k - 1, 0), k, k + 1, 0)):
        evals[rows] = flip(train[RNG.integers(0, n, len(rows))], d)
    train[:5] = train[5]  # repeated hashes, as real datasets have
    return train, evals


def assert_same(found, expected):
    for got, want in zip(found, expected):
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("k", range(0, 13))
def test_planned_search_equals_brute_force(k):
    train, evals = random_with_near_pairs(1500, 300, k)
    expected = brute_force(train, evals, k)
    assert (expected[2] == k).any()  # the adversarial pairs at exactly K are there
    assert_same(hamming_pairs(train, evals, k), expected)
    # the larger side is bucketed: swapping roles must give the transposed answer
    i, j, d = hamming_pairs(evals, train, k)
    order = np.lexsort((expected[0], expected[1]))
    assert_same((j, i, d), (expected[0][order], expected[1][order], expected[2][order]))


@pytest.mark.parametrize("k,n_blocks", [(0, 3), (2, 3), (3, 4), (6, 3), (6, 4), (6, 7), (8, 9), (5, 8)])
def test_every_layout_is_exact(k, n_blocks):
    train, evals = random_with_near_pairs(800, 200, k)
    assert_same(hamming_pairs(train, evals, k, n_blocks=n_blocks), brute_force(train, evals, k))


def test_pairs_at_distance_k_plus_one_are_not_reported():
    train = RNG.integers(0, 2 ** 64, 200, dtype=np.uint64)
    evals = flip(train, 7)
    assert len(hamming_pairs(train, evals, 6)[0]) == 0
    i, j, d = hamming_pairs(train, evals, 7)
    assert (i == j).all() and (d == 7).all() and len(i) == 200


def test_layouts_cover_64_bits_with_pigeonhole_radii():
    for k in range(0, 33):
        for m in range(3, max(3, k + 1) + 1):
            blocks = layout(m, k)
            assert sum(b.bits for b in blocks) == 64
            assert sum(b.radius + 1 for b in blocks) == k + 1
            assert all(b.radius >= -1 for b in blocks)
            assert [b.shift for b in blocks] == sorted((b.shift for b in blocks), reverse=True)
            assert blocks[-1].shift == 0


def test_planner_prefers_few_long_blocks_at_scale():
    blocks = plan_blocks(10_000_000, 200_000, 6)
    assert [(b.bits, b.radius) for b in blocks] == [(22, 2), (21, 1), (21, 1)]
    assert all(b.bits <= dedup.MAX_BLOCK_BITS for k in range(33) for b in plan_blocks(1000, 1000, k))


def test_block_keys_and_probes():
    b = Block(shift=8, bits=4, radius=1)
    assert b.keys(np.array([0xABC], np.uint64)).tolist() == [0xA]
    assert b.probes() == 5
    assert sorted(dedup.flip_masks(4, 1).tolist()) == [0, 1, 2, 4, 8]


def test_spread_bits_is_a_distance_preserving_bijection():
    a = RNG.integers(0, 2 ** 64, 2000, dtype=np.uint64)
    b = RNG.integers(0, 2 ** 64, 2000, dtype=np.uint64)
    for m in (3, 4, 7):
        sa, sb = spread_bits(a, m), spread_bits(b, m)
        np.testing.assert_array_equal(popcount(sa ^ sb), popcount(a ^ b))
        assert len(np.unique(sa)) == len(np.unique(a))
    # the DC bit leads block 0, its zigzag neighbour (0, 1) leads block 1
    assert spread_bits(np.array([1 << 63, 1 << 62], np.uint64), 3).tolist() == [1 << 63, 1 << 41]


def test_popcount_table_matches_bitwise_count():
    x = np.r_[RNG.integers(0, 2 ** 64, 1000, dtype=np.uint64), np.uint64(0), np.uint64(2 ** 64 - 1)]
    assert popcount_table(x).tolist() == [bin(int(v)).count("1") for v in x]


def test_expand_ranges_splits_long_ranges_and_bounds_steps():
    starts, counts, owners = np.array([0, 100, 7]), np.array([3, 25, 0]), np.array([10, 11, 12])
    steps = list(expand_ranges(starts, counts, owners, budget=4))
    assert max(len(p) for p, _ in steps) <= 8
    pos = np.concatenate([p for p, _ in steps])
    own = np.concatenate([o for _, o in steps])
    assert pos.tolist() == [0, 1, 2, *range(100, 125)]
    assert own.tolist() == [10] * 3 + [11] * 25


def test_heavily_repeated_hashes_with_tiny_budgets(monkeypatch):
    monkeypatch.setattr(dedup, "CANDIDATE_BUDGET", 7)
    monkeypatch.setattr(dedup, "PROBE_BUDGET", 50)
    placeholder = RNG.integers(0, 2 ** 64, dtype=np.uint64)
    train = np.r_[np.full(300, placeholder, np.uint64), RNG.integers(0, 2 ** 64, 300, dtype=np.uint64)]
    evals = np.r_[flip(np.full(3, placeholder, np.uint64), 4), RNG.integers(0, 2 ** 64, 40, dtype=np.uint64)]
    found = hamming_pairs(train, evals, 6)
    assert len(found[0]) == 900
    assert_same(found, brute_force(train, evals, 6))


def test_bad_distance_is_refused():
    with pytest.raises(ValueError, match="max distance"):
        hamming_pairs(np.zeros(1, np.uint64), np.zeros(1, np.uint64), 33)


def hashes_table(ids, hashes, column="phash"):
    return pa.table({"image_id": pa.array(ids, pa.string()), column: pa.array(hashes, pa.uint64())})


def test_dedup_pairs_table_is_sorted_named_and_skips_null_hashes():
    train = hashes_table(["t3", "t1", "t2", "t0"], [0b1111, 0, None, 0xFFFF << 40])
    evals = {"val": hashes_table(["v1", "v0"], [0, 0b111]), "real": hashes_table(["r0"], [0b1])}
    pairs = dedup_pairs(train, evals, 3)
    assert pairs.schema == PAIRS
    assert pairs.to_pylist() == [
        {"image_id": "t1", "eval_image_id": "r0", "eval_set": "real", "distance": 1, "hash": 0, "transform": "plain"},
        {"image_id": "t1", "eval_image_id": "v0", "eval_set": "val", "distance": 3, "hash": 0,
         "transform": "plain"},
        {"image_id": "t1", "eval_image_id": "v1", "eval_set": "val", "distance": 0, "hash": 0,
         "transform": "plain"},
        {"image_id": "t3", "eval_image_id": "r0", "eval_set": "real", "distance": 3, "hash": 0b1111,
         "transform": "plain"},
        {"image_id": "t3", "eval_image_id": "v0", "eval_set": "val", "distance": 1, "hash": 0b1111,
         "transform": "plain"},
    ]
    assert len(dedup_pairs(train, {}, 3)) == 0


def eval_photos_and_copies(fixtures: Path, tmp_path: Path) -> list[Path]:
    """The fixture photos in tmp_path/eval, a half-size re-encode and a mirror of each in tmp_path/train."""
    photos = sorted((fixtures / "images").glob("*.[jp][pn]g"))
    (tmp_path / "eval").mkdir()
    (tmp_path / "train").mkdir()
    for p in photos:
        (tmp_path / "eval" / p.name).write_bytes(p.read_bytes())
        img = Image.open(p).convert("RGB")
        img.resize((img.width // 2, img.height // 2)).save(tmp_path / "train" / f"small_{p.stem}.jpg", quality=60)
        ImageOps.mirror(img).save(tmp_path / "train" / f"flipped_{p.stem}.jpg")
    return photos


def test_cli_finds_transformed_copies_of_eval_photos(fixtures: Path, tmp_path, capsys):
    photos = eval_photos_and_copies(fixtures, tmp_path)
    for side in ("train", "eval"):
        assert main(["hash", str(tmp_path / side), "--out", str(tmp_path / f"{side}.parquet"), "--workers", "1"]) == 0
    out = tmp_path / "pairs.parquet"
    assert main(["dedup", "--train", str(tmp_path / "train.parquet"),
                 "--eval", f"photos={tmp_path / 'eval.parquet'}", "--max-distance", "6", "--out", str(out)]) == 0
    pairs = read_table(out)
    assert pairs.schema == PAIRS
    assert pairs["image_id"].to_pylist() == sorted(f"small_{p.stem}.jpg" for p in photos)
    assert pairs["eval_image_id"].to_pylist() == [p.name for p in sorted(photos, key=lambda p: p.stem)]
    assert set(pairs["eval_set"].to_pylist()) == {"photos"}
    assert "6 pairs within 6" in capsys.readouterr().out


def test_cli_refuses_mixed_kinds_duplicate_names_and_missing_columns(tmp_path, capsys):
    write_table(hashes_table(["a"], [1]), tmp_path / "train.parquet")
    write_table(hashes_table(["b"], [1], "dhash"), tmp_path / "d.parquet")
    write_table(pa.table({"image_id": ["c"]}), tmp_path / "none.parquet")
    base = ["dedup", "--train", str(tmp_path / "train.parquet"), "--out", str(tmp_path / "p.parquet")]
    assert main(base + ["--eval", str(tmp_path / "d.parquet")]) == 2
    assert "dhash hashes" in capsys.readouterr().err
    assert main(base + ["--eval", f"x={tmp_path / 'train.parquet'}", "--eval", f"x={tmp_path / 'train.parquet'}"]) == 2
    assert "given twice" in capsys.readouterr().err
    assert main(base + ["--eval", str(tmp_path / "none.parquet")]) == 2
    assert "none.parquet" in capsys.readouterr().err
    assert not (tmp_path / "p.parquet").exists()


def test_cli_with_search_keys_also_finds_mirrored_copies(fixtures: Path, tmp_path, capsys):
    photos = eval_photos_and_copies(fixtures, tmp_path)
    for side in ("train", "eval"):
        assert main(["hash", str(tmp_path / side), "--keys", side, "--out", str(tmp_path / f"{side}.parquet"),
                     "--workers", "1"]) == 0
    out = tmp_path / "pairs.parquet"
    assert main(["dedup", "--train", str(tmp_path / "train.parquet"), "--eval", f"photos={tmp_path / 'eval.parquet'}",
                 "--out", str(out)]) == 0
    pairs = read_table(out).to_pylist()
    found = {(p["image_id"], p["eval_image_id"]): p["transform"] for p in pairs}
    expected = {(f"{kind}_{p.stem}.jpg", p.name): "mirrored" if kind == "flipped" else "plain"
                for p in photos for kind in ("flipped", "small")}
    assert found == expected
    assert f"{2 * len(photos)} pairs within 6" in capsys.readouterr().out
