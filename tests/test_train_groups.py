"""Near-duplicate groups within the training hashes against a brute-force union-find."""
from __future__ import annotations

import numpy as np
import pytest

from mlbuild.images.train_groups import near_duplicate_roots


def reference_roots(hashes: np.ndarray, k: int, checks: np.ndarray | None = None, c: int = 64) -> list[int]:
    """Union-find over every pair within k (and checks within c), each row labelled with its group's smallest row."""
    parent = list(range(len(hashes)))

    def find(x: int) -> int:
        while parent[x] != x:
            x = parent[x]
        return x
    values = hashes.tolist()
    marks = [0] * len(values) if checks is None else checks.tolist()
    for a in range(len(values)):
        for b in range(a + 1, len(values)):
            if bin(values[a] ^ values[b]).count("1") <= k and bin(marks[a] ^ marks[b]).count("1") <= c:
                ra, rb = find(a), find(b)
                parent[max(ra, rb)] = min(ra, rb)
    return [find(i) for i in range(len(values))]


@pytest.mark.parametrize("k", [0, 2, 6])
def test_groups_match_union_find_with_chains_repeats_and_small_query_slices(k):
    rng = np.random.default_rng(k)
    base = rng.integers(0, 2 ** 64, 150, dtype=np.uint64)
    chain = [base[0]]
    for _ in range(12):  # a chain of single-bit steps: ends far apart, one group for k >= 1
        chain.append(chain[-1] ^ (np.uint64(1) << np.uint64(rng.integers(0, 64))))
    hashes = np.concatenate([base, np.array(chain, np.uint64), base[:30] ^ np.uint64(0b101), np.repeat(base[40], 25)])
    hashes = hashes[rng.permutation(len(hashes))]
    expected = reference_roots(hashes, k)
    assert near_duplicate_roots(hashes, k).tolist() == expected
    assert near_duplicate_roots(hashes, k, query_rows=7).tolist() == expected
    assert len(set(expected)) < len(hashes) - 24  # the repeats at least were grouped
    checks = rng.integers(0, 2 ** 64, len(hashes), dtype=np.uint64) & np.uint64(0xFF)  # 0-8 bits apart
    with_checks = reference_roots(hashes, k, checks, 3)
    assert near_duplicate_roots(hashes, k, checks, 3, query_rows=11).tolist() == with_checks
    assert with_checks != expected


def test_no_hashes_no_groups():
    assert near_duplicate_roots(np.zeros(0, np.uint64), 6).tolist() == []


def test_build_collapses_near_identical_training_images(tmp_path, fixtures):
    import json

    import pyarrow.parquet as pq
    from PIL import Image

    from mlbuild.pipeline import build
    photos = sorted((fixtures / "images").glob("*.jpg"))[:3]
    lines = ["image_id,path,labels"]
    for k, p in enumerate(photos):
        img = Image.open(p).convert("RGB")
        img.save(tmp_path / f"a{k}.jpg", quality=90)
        img.resize((img.width // 2, img.height // 2)).save(tmp_path / f"b{k}.jpg", quality=70)
        lines += [f"a{k},{tmp_path / f'a{k}.jpg'},n02084071", f"b{k},{tmp_path / f'b{k}.jpg'},n02121808"]
    (tmp_path / "train.csv").write_text("\n".join(lines) + "\n")
    (tmp_path / "build.toml").write_text(
        '[[source]]\nkind = "tabular"\nname = "web"\npath = "train.csv"\nid_column = "image_id"\n'
        'path_column = "path"\nlabels_column = "labels"\nlabel_kind = "wnid"\nsplit = "train"\n\n'
        "[dedup]\nwithin_train = true\n")
    out = build(tmp_path / "build.toml", tmp_path / "out").out_dir
    rows = {r["image_id"]: r for r in pq.read_table(out / "images").to_pylist()}
    classes = {c["wnid"]: c["class_index"] for c in pq.read_table(out / "classes.parquet").to_pylist()}
    for k in range(3):
        kept, dropped = rows[f"web:a{k}"], rows[f"web:b{k}"]
        assert kept["dedup"] is None and dropped["dedup"] == f"train_near_duplicate_of:web:a{k}"
        assert {classes["n02084071"], classes["n02121808"]} <= set(kept["direct_labels"])
    record = json.loads((out / "build.json").read_text())
    assert record["counts"]["images"] == {"train": 3}
