"""The build end to end on real-format fixtures: labels, determinism, atomicity, resume."""
from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from process_helpers import alive_after, child_pids

from mlbuild.cli import main
from mlbuild.pipeline import build
from mlbuild.sample import SAMPLE_DIR

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "build"


def sample_toml(tmp_path: Path, extra: str = "", partition: int = 8) -> Path:
    """The embedded sample's config, with a fixed Open Images class map (independent of the shipped one)."""
    text = (SAMPLE_DIR / "build.toml").read_text()
    text = text.replace('descriptions = "oi_classes.csv"',
                        f'descriptions = "oi_classes.csv"\nclass_map = "{FIXTURES / "oi_class_map.csv"}"')
    text = text.replace("partition_images = 8", f"partition_images = {partition}") + extra
    path = SAMPLE_DIR / f".test-{os.getpid()}-{tmp_path.name}.toml"
    path.write_text(text)
    return path


@pytest.fixture
def config(tmp_path):
    path = sample_toml(tmp_path)
    yield path
    path.unlink()


def parquet_digests(out: Path) -> dict[str, str]:
    return {str(p.relative_to(out)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(out.rglob("*.parquet"))}


def ancestors_from(hierarchy: list[dict]) -> dict[int, set[int]]:
    parents: dict[int, set[int]] = {}
    for edge in hierarchy:
        parents.setdefault(edge["child"], set()).add(edge["parent"])

    def up(c: int) -> set[int]:
        return set().union(*({p} | up(p) for p in parents.get(c, ())))
    return {c: up(c) for c in parents}


def test_labels_are_the_closure_of_direct_labels_image_by_image(config, tmp_path):
    result = build(config, tmp_path / "out")
    out = result.out_dir
    anc = ancestors_from(pq.read_table(out / "hierarchy.parquet").to_pylist())
    images = pq.read_table(out / "images").to_pylist()
    assert len(images) == 22 and result.counts["images"] == {"eval": 2, "train": 17}
    for row in images:
        expected = set(row["direct_labels"]).union(*(anc.get(c, set()) for c in row["direct_labels"]))
        assert row["labels"] == sorted(expected), row["image_id"]
        assert not set(row["negatives"]) & set(row["labels"])
        assert len(row["confidences"]) == len(row["labels"])
    # a verified-absent "Car" is pushed down to the racer (a car) in the same image
    classes = {c["wnid"]: c["class_index"] for c in pq.read_table(out / "classes.parquet").to_pylist()}
    oi = {r["image_id"]: r for r in images}["openimages:000060e3121c7305"]
    assert {classes["n02958343"], classes["n04037443"]} <= set(oi["negatives"])


def test_classes_carry_sources_counts_and_weights(config, tmp_path):
    out = build(config, tmp_path / "out").out_dir
    classes = {c["wnid"]: c for c in pq.read_table(out / "classes.parquet").to_pylist()}
    dog = classes["n02084071"]
    assert "openimages:/m/0bt9lr" in dog["sources"]
    assert dog["positives_train"] == 4 and dog["pos_weight"] == pytest.approx((17 - 4) / 4)
    assert classes["n09818022"]["positives_eval"] == 1   # eval-only class kept
    source_classes = pq.read_table(out / "source_classes.parquet").to_pylist()
    swans = [r for r in source_classes if r["source_class"] == "/m/01c_0l"][0]
    assert swans["wnid"] is None and swans["class_indices"] == []


def test_duplicates_are_collapsed_and_near_duplicates_of_eval_removed(config, tmp_path):
    out = build(config, tmp_path / "out").out_dir
    rows = {r["image_id"]: r for r in pq.read_table(out / "images").to_pylist()}
    classes = {c["wnid"]: c["class_index"] for c in pq.read_table(out / "classes.parquet").to_pylist()}
    # the same Flickr photo in ImageNet (golden retriever) and Open Images (dog, human face): one image
    assert rows["openimages:0000b86e2fd18333"]["dedup"] == "duplicate_of:imagenet21k:n02099601_7"
    kept = rows["imagenet21k:n02099601_7"]
    assert {classes["n02099601"], classes["n05600637"]} <= set(kept["direct_labels"]) and kept["dedup"] is None
    assert rows["openimages:0000b86e2fd18333"]["labels"] == []
    # the local training cat is a near-duplicate of the first evaluation image
    assert rows["imagenet_local:n02123045_1"]["dedup"] == "near_duplicate:sample_eval:val_0001"
    pairs = pq.read_table(out / "dedup_pairs.parquet").to_pylist()
    assert [(p["image_id"], p["eval_image_id"], p["eval_set"]) for p in pairs] == [
        ("imagenet_local:n02123045_1", "sample_eval:val_0001", "sample_eval")]
    assert pairs[0]["distance"] <= 6 and rows["sample_eval:val_0002"]["phash"] is not None
    assert pairs[0]["transform"] == "plain"


def test_build_counts_images_it_could_not_hash(config, tmp_path, capsys):
    import json
    out = build(config, tmp_path / "out").out_dir
    record = json.loads((out / "build.json").read_text())
    rows = pq.read_table(out / "images", columns=["source", "split", "path", "phash"]).to_pylist()
    expected: dict = {}
    for r in rows:  # every image of the sample is either hashed or has no local file
        reason = "hashed" if r["phash"] is not None else "no_file" if r["path"] is None else "missing_file"
        counts = expected.setdefault(r["source"], {}).setdefault(r["split"], {})
        counts[reason] = counts.get(reason, 0) + 1
    assert record["counts"]["hashing"] == expected
    assert expected["imagenet_local"]["train"]["hashed"] >= 1 and expected["imagenet21k"]["train"]["no_file"] >= 1
    text = "\n".join(record["warnings"])
    n = expected["imagenet21k"]["train"]["no_file"]
    assert f"imagenet21k/train: {n:,} of {n:,} images not hashed (no_file {n:,})" in text
    assert "NOTHING WAS DECONTAMINATED" not in text
    assert main(["inspect", str(out)]) == 0
    shown = capsys.readouterr().out
    assert "hashed for near-duplicate search" in shown and f"not hashed: no_file {n:,}" in shown


def test_build_without_hashable_training_images_says_nothing_was_decontaminated(tmp_path):
    import json
    local = '[[source]]\nkind = "imagenet_folder"\nname = "imagenet_local"\nroot = "imagenet_tree"\n'
    text = (SAMPLE_DIR / "build.toml").read_text()
    assert local in text
    path = SAMPLE_DIR / f".test-{os.getpid()}-nolocal.toml"
    path.write_text(text.replace(local, ""))
    try:
        out = build(path, tmp_path / "out").out_dir
    finally:
        path.unlink()
    record = json.loads((out / "build.json").read_text())
    assert any(w.startswith("NOTHING WAS DECONTAMINATED") for w in record["warnings"])
    assert record["counts"]["hashing"]["sample_eval"]["eval"]["hashed"] == 2


def test_build_json_reports_skips_inputs_and_unmapped(config, tmp_path):
    import json
    out = build(config, tmp_path / "out").out_dir
    record = json.loads((out / "build.json").read_text())
    text = "\n".join(record["warnings"])
    assert "fall11_urls_sample.txt" in text and "line 11" in text
    assert "1 of 7 classes not mapped" in text and "repaired" in text
    assert all(len(v["sha256"]) == 64 for v in record["inputs"].values())
    assert record["counts"]["sources"]["openimages"]["negatives"] == 6
    # Open Images verified "no dog" on the photo ImageNet files as a golden retriever (the two are
    # merged): the positives win over the implied negatives for dog and golden retriever
    assert record["counts"]["conflicts"] == {"machine_positive_removed": 0, "positive_over_negative": 2}
    row = [r for r in pq.read_table(out / "images").to_pylist() if r["image_id"] == "imagenet21k:n02099601_7"][0]
    assert len(row["conflicts"]) == 2 and not set(row["conflicts"]) & set(row["negatives"])
    given = {bit for mask in row["label_sources"] for bit in range(len(record["sources"])) if mask >> bit & 1}
    assert given == {record["sources"].index("imagenet21k"), record["sources"].index("openimages")}


def test_two_builds_and_worker_counts_are_byte_identical(tmp_path):
    from mlbuild.config import load_config
    path = sample_toml(tmp_path)
    try:
        a = build(path, tmp_path / "a")
        b = build(path, tmp_path / "b")
        in_process = load_config(path)  # the default is one worker per core
        in_process.workers = 1
        c = build(in_process, tmp_path / "c")
    finally:
        path.unlink()
    assert parquet_digests(a.out_dir) == parquet_digests(b.out_dir) == parquet_digests(c.out_dir)
    assert len(parquet_digests(a.out_dir)) >= 6


@pytest.mark.parametrize("extra", ["", "\n[classes]\nmin_images = 2\n"])
def test_partitioning_does_not_change_any_image_row(tmp_path, extra):
    """One image per partition (every duplicate's labels cross partitions) or all in one."""
    tables = {}
    for size in (1, 100):
        path = sample_toml(tmp_path, extra, partition=size)
        try:
            tables[size] = pq.read_table(build(path, tmp_path / str(size)).out_dir / "images").sort_by("image_id")
        finally:
            path.unlink()
    assert tables[1].num_rows == 22 and tables[1].equals(tables[100])
    kept = {r["image_id"]: r for r in tables[1].to_pylist()}["imagenet21k:n02099601_7"]
    assert len(kept["direct_labels"]) >= (1 if extra else 2)  # its duplicate's labels arrived


def test_label_rows_expanded_in_small_chunks_give_the_same_manifests(config, tmp_path, monkeypatch):
    import mlbuild.labels.label_rows
    whole = build(config, tmp_path / "whole").out_dir
    monkeypatch.setattr(mlbuild.labels.label_rows, "CHUNK_ROWS", 3)
    chunked = build(config, tmp_path / "chunked").out_dir
    assert parquet_digests(whole) == parquet_digests(chunked)


def test_bad_config_is_a_clear_error(tmp_path, capsys):
    path = tmp_path / "bad.toml"
    path.write_text('[[source]]\nkind = "imagenet_urls"\nurls = "x.txt"\nnot_a_key = 1\n')
    assert main(["build", str(path), "--out", str(tmp_path / "o")]) == 2
    assert "not_a_key" in capsys.readouterr().err
    assert not (tmp_path / "o" / "build.json").exists()


def big_urls(path: Path, rows: int) -> None:
    wnids = ["n02084071", "n02121620", "n02123045", "n02099601", "n01503061"]
    with open(path, "w") as fh:
        for i in range(rows):
            fh.write(f"{wnids[i % 5]}_{i}\thttp://farm1.static.flickr.com/{i}/{i}_abc.jpg\n")


def test_killed_build_leaves_nothing_complete_and_rerun_finishes(tmp_path):
    big_urls(tmp_path / "urls.txt", 60_000)
    config = tmp_path / "build.toml"
    config.write_text('[[source]]\nkind = "imagenet_urls"\nurls = "urls.txt"\n[build]\npartition_images = 500\n')
    out = tmp_path / "out"
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parent.parent))
    proc = subprocess.Popen([sys.executable, "-m", "mlbuild", "build", str(config), "--out", str(out),
                             "--workers", "2"], env=env)
    deadline = time.time() + 60
    while time.time() < deadline and len(list((out / ".partial" / "counts").glob("*.parquet"))) < 5:
        time.sleep(0.02)
    workers = child_pids(proc.pid)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert len(workers) == 2 and not alive_after(workers, 5.0), "workers outlived their build"
    done = len(list((out / ".partial" / "counts").glob("*.parquet")))
    assert 5 <= done < 120, "kill did not land mid-build"
    assert not (out / "build.json").exists() and not (out / "images").exists()
    assert main(["build", str(config), "--out", str(out)]) == 0
    clean = tmp_path / "clean"
    assert main(["build", str(config), "--out", str(clean), "--no-resume"]) == 0
    assert parquet_digests(out) == parquet_digests(clean)
    ids = pq.read_table(out / "images", columns=["image_id"]).column("image_id").to_pylist()
    assert len(ids) == len(set(ids)) == 60_000
    assert not (out / ".partial").exists()


def test_min_images_drops_rare_classes_and_moves_their_labels_up(tmp_path):
    path = sample_toml(tmp_path, extra="\n[classes]\nmin_images = 3\nkeep_eval_classes = false\n")
    try:
        out = build(path, tmp_path / "out").out_dir
    finally:
        path.unlink()
    classes = pq.read_table(out / "classes.parquet").to_pylist()
    wnids = {c["wnid"]: c["class_index"] for c in classes}
    assert all(c["positives_train"] >= 3 for c in classes)
    assert "n02085620" not in wnids and "n02084071" in wnids    # Chihuahua (2 images) folds into dog
    rows = {r["image_id"]: r for r in pq.read_table(out / "images").to_pylist()}
    assert rows["imagenet21k:n02085620_10"]["labels"] == [wnids["n02084071"]]
    assert rows["imagenet21k:n02085620_10"]["direct_labels"] == [wnids["n02084071"]]
