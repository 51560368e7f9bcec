"""The documented recipes (docs/download.md): our shards read by the `webdataset` package and by
Hugging Face `datasets`; each test skips when its package is not installed (`datasets` is not in
the test extra: it is large)."""
from __future__ import annotations

import io
import json

import pyarrow as pa
import pytest
from PIL import Image

from mlbuild.images.shard_writer import sample_key, write_shards
from mlbuild.loaders import iter_shards

IDS = [f"web:img.{i}" for i in range(7)]  # a '.' in ids: keys must not keep it


def make_shards(folder, fmt="webdataset"):
    rows = pa.table({"image_id": IDS, "key": [sample_key(i) for i in IDS],
                     "labels": [[i % 3, 5] for i in range(len(IDS))],
                     "split": ["train"] * len(IDS)})

    def load(row):
        out = io.BytesIO()
        Image.new("RGB", (20 + IDS.index(row["image_id"]), 10), (200, 10, 10)).save(out, "JPEG")
        return out.getvalue(), "jpg"

    write_shards(rows, load, folder, "train", 3, fmt, ["image_id", "labels", "split"])
    return sorted(folder.glob("train-*.tar" if fmt == "webdataset" else "train-*.parquet"))


def test_our_loader_reads_tar_and_parquet_shards_alike(tmp_path):
    tars = make_shards(tmp_path / "w")
    parquets = make_shards(tmp_path / "p", "parquet")
    assert len(tars) == len(parquets) == 3
    a = [(s.key, s.image, s.meta, s.target.tolist()) for s in iter_shards(tars, 6)]
    b = [(s.key, s.image, s.meta, s.target.tolist()) for s in iter_shards(parquets, 6)]
    assert a == b and [m["image_id"] for _, _, m, _ in a] == IDS
    assert a[1][3] == [0, 1, 0, 0, 0, 1]


def test_webdataset_package_recipe(tmp_path):
    wds = pytest.importorskip("webdataset")
    tars = make_shards(tmp_path)
    dataset = wds.WebDataset([str(p) for p in tars], shardshuffle=False).decode("pil").to_tuple("jpg", "json")
    got = [(image.size, meta["image_id"]) for image, meta in dataset]
    assert got == [((20 + i, 10), image_id) for i, image_id in enumerate(IDS)]


def test_hugging_face_datasets_recipe(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    datasets = pytest.importorskip("datasets")
    tars = make_shards(tmp_path)
    ds = datasets.load_dataset("webdataset", data_files={"train": [str(p) for p in tars]}, split="train",
                               cache_dir=str(tmp_path / "cache"))
    assert [row["json"]["image_id"] for row in ds] == IDS
    assert [row["jpg"].size for row in ds] == [(20 + i, 10) for i in range(len(IDS))]
    assert json.loads(json.dumps(ds[1]["json"]))["labels"] == [1, 5]
