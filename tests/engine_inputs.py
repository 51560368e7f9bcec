"""Build inputs for the engine tests, in the real formats, generated (no ../shared needed).

A fall11-format TAB list (one WNID label per image, the ImageNet fast path), a custom
CSV list with several WNID labels per image (the general propagation path) and an
evaluation CSV; classes are real WordNet 3.0 nouns from the shipped snapshot. Also
64-bit hashes with planted near-duplicates for the sharded dedup join.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from mlbuild.classes import wordnet


def real_wnids(n: int, seed: int = 0) -> list[str]:
    """n WordNet 3.0 noun WNIDs drawn reproducibly from the shipped snapshot, plus all their
    ancestors (so labels on both a class and its ancestors exercise propagation)."""
    wn = wordnet.load()
    rows = set(np.random.default_rng(seed).choice(len(wn), n, replace=False).tolist())
    rows |= {a for r in list(rows) for a in wn.ancestors(int(r))}
    return sorted(wn.wnid(r) for r in rows)


def _join(*columns: pa.Array | str) -> pa.Array:
    return pc.binary_join_element_wise(*columns, "")


def _numbers(values: np.ndarray) -> pa.Array:
    return pa.array(values).cast(pa.string())


def write_fall11(path: Path, wnids: list[str], n: int, seed: int = 1) -> Path:
    """`n########_#<TAB>url` lines (LF) with distinct ids and Flickr-style URLs."""
    rng = np.random.default_rng(seed)
    wnid = pa.array(wnids).take(pa.array(rng.integers(0, len(wnids), n)))
    ids = _join(wnid, "_", _numbers(np.arange(n)))
    urls = _join("http://farm", _numbers(rng.integers(1, 9, n)), ".static.flickr.com/",
                 _numbers(rng.integers(1000, 9999, n)), "/", _numbers(10**9 + np.arange(n)), "_",
                 _numbers(rng.integers(10**9, 10**10, n)), ".jpg")
    path.write_text("\n".join(_join(ids, "\t", urls).to_pylist()) + "\n", encoding="utf-8")
    return path


def write_tabular(path: Path, wnids: list[str], n: int, prefix: str, seed: int = 2) -> Path:
    """`image_id,url,labels` CSV with 1-4 space-separated WNID labels per image."""
    rng = np.random.default_rng(seed)
    labels = pa.array(wnids).take(pa.array(rng.integers(0, len(wnids), n)))
    for _ in range(3):
        more = pa.array(wnids).take(pa.array(rng.integers(0, len(wnids), n)))
        labels = pc.if_else(pa.array(rng.random(n) < 0.5), _join(labels, " ", more), labels)
    ids = _join(prefix, _numbers(np.arange(n)))
    urls = _join("https://images.example.org/", prefix, "/", _numbers(np.arange(n)), ".jpg")
    lines = _join(ids, ",", urls, ",", labels)
    path.write_text("image_id,url,labels\n" + "\n".join(lines.to_pylist()) + "\n", encoding="utf-8")
    return path


def parquet_files(out: Path) -> dict[str, bytes]:
    """Every Parquet file of a build, by relative path, with its bytes."""
    return {p.relative_to(out).as_posix(): p.read_bytes() for p in sorted(out.rglob("*.parquet"))}


def write_build(folder: Path, n_fall11: int, n_custom: int, n_eval: int, partition_images: int,
                n_classes: int = 200) -> Path:
    """All inputs and a build.toml in folder; returns the config path."""
    folder.mkdir(parents=True, exist_ok=True)
    wnids = real_wnids(n_classes)
    write_fall11(folder / "fall11_urls.txt", wnids, n_fall11)
    write_tabular(folder / "custom.csv", wnids, n_custom, "custom_")
    write_tabular(folder / "eval.csv", wnids[: n_classes // 2], n_eval, "eval_", seed=3)
    tabular = 'id_column = "image_id"\nurl_column = "url"\nlabels_column = "labels"\n' \
              'label_kind = "wnid"\ndelimiter = " "\n'
    (folder / "build.toml").write_text(
        '[[source]]\nkind = "imagenet_urls"\nname = "imagenet21k"\nurls = "fall11_urls.txt"\n\n'
        f'[[source]]\nkind = "tabular"\nname = "custom"\npath = "custom.csv"\n{tabular}\n'
        f'[[eval]]\nkind = "tabular"\nname = "heldout"\npath = "eval.csv"\nsplit = "eval"\n{tabular}\n'
        f"[build]\npartition_images = {partition_images}\n", encoding="utf-8")
    return folder / "build.toml"


def planted_hashes(n_train: int, n_eval: int, seed: int = 5) -> tuple[pa.Table, dict[str, pa.Table]]:
    """Random 64-bit hashes with every 50th training hash within 0-6 bits of an evaluation hash."""
    rng = np.random.default_rng(seed)
    evals = rng.integers(0, 2**64, n_eval, dtype=np.uint64)
    train = rng.integers(0, 2**64, n_train, dtype=np.uint64)
    for i in range(0, n_train, 50):
        flips = rng.choice(64, rng.integers(0, 7), replace=False)
        train[i] = evals[i % n_eval] ^ np.bitwise_or.reduce(np.uint64(1) << flips.astype(np.uint64),
                                                          initial=np.uint64(0))
    table = pa.table({"image_id": [f"t{i:05d}" for i in range(n_train)], "phash": train})
    half = n_eval // 2
    sets = {"val": pa.table({"image_id": [f"v{j}" for j in range(half)], "phash": evals[:half]}),
            "test": pa.table({"image_id": [f"e{j}" for j in range(half, n_eval)], "phash": evals[half:]})}
    return table, sets
