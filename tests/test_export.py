"""`mlbuild export`: Tencent round trip against a slow reference, ImageNet lists and multi-hot matrices
checked against the build's manifests, determinism, and never writing over a foreign file."""
from __future__ import annotations

import hashlib
import tomllib
from pathlib import Path

import numpy as np
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pytest
import scipy.sparse
from sources_helpers import reference_tokens

from mlbuild.cli import main
from mlbuild.config import config_from_dict
from mlbuild.errors import MlbuildError
from mlbuild.manifests.export_imagenet import export_imagenet
from mlbuild.manifests.export_multihot import export_multihot
from mlbuild.manifests.export_tencent import export_tencent
from mlbuild.pipeline import build
from mlbuild.sample import SAMPLE_DIR

DICTIONARY = "dictionary_and_semantic_hierarchy.txt"


def tencent_build(folder: Path, lists: list[Path], out: Path) -> Path:
    """A build of Tencent lists with the dictionary as vocabulary and hierarchy."""
    config = config_from_dict({
        "source": [{"kind": "tencent", "lists": [str(p) for p in lists], "dictionary": str(folder / DICTIONARY)}],
        "taxonomy": {"hierarchy": str(folder / DICTIONARY), "hierarchy_format": "tencent"},
        "build": {"workers": 1}}, base=folder)
    return build(config, out).out_dir


def tencent_parents(dictionary: Path) -> list[int]:
    rows = [line.split("\t") for line in dictionary.read_text().splitlines()[1:]]
    return [int(r[2]) for r in rows]


def expected_lines(lists: list[Path], parents: list[int]) -> dict[str, dict[int, float]]:
    """Per URL, the slow answer: every valid input label and its ancestors in Tencent's tree, each with
    the highest confidence of the input labels implying it."""
    out: dict[str, dict[int, float]] = {}
    for path in lists:
        for line in path.read_text().splitlines():
            url, good, _ = reference_tokens(line, len(parents))
            labels: dict[int, float] = {}
            for idx, conf in good:
                node = idx
                while node >= 0:
                    labels[node] = max(labels.get(node, 0.0), float(np.float32(conf)))
                    node = parents[node]
            if url and labels:
                out[url] = labels
    return out


def exported_lines(path: Path) -> dict[str, dict[int, float]]:
    out = {}
    for line in path.read_text().splitlines():
        url, *tokens = line.split("\t")
        assert url not in out
        pairs = [t.split(":") for t in tokens]
        assert [int(i) for i, _ in pairs] == sorted(int(i) for i, _ in pairs)
        out[url] = {int(i): float(np.float32(float(c))) for i, c in pairs}
    return out


def check_round_trip(folder: Path, lists: list[Path], tmp_path: Path) -> None:
    out = tencent_build(folder, lists, tmp_path / "build")
    assert main(["export", "tencent", str(out), "--out", str(tmp_path / "export")]) == 0
    written = tmp_path / "export" / DICTIONARY
    assert written.read_bytes() == (folder / DICTIONARY).read_bytes()
    expected = expected_lines(lists, tencent_parents(folder / DICTIONARY))
    assert exported_lines(tmp_path / "export" / "train_urls.txt") == expected


def test_round_trip_on_our_fixture(fixtures, tmp_path):
    folder = fixtures / "sources" / "tencent"
    check_round_trip(folder, [folder / "train_urls_fixture.txt"], tmp_path)
    # The line whose ancestor came with a lower confidence than its descendant: the ancestor takes the higher.
    lines = exported_lines(tmp_path / "export" / "train_urls.txt")
    assert lines["https://farm1.staticflickr.com/1/104_eeee_o.jpg"][5] == 1.0
    assert lines["https://farm1.staticflickr.com/1/101_bbbb_o.jpg"] == {
        i: float(np.float32(0.9)) for i in (9, 6, 5, 7, 0)}


def test_round_trip_on_the_real_sample(shared_data, tmp_path):
    folder = shared_data / "tencent"
    check_round_trip(folder, [folder / "train_urls_tiny.txt"], tmp_path)


def sample_build(tmp_path: Path) -> Path:
    text = (SAMPLE_DIR / "build.toml").read_text()
    return build(config_from_dict(tomllib.loads(text), base=SAMPLE_DIR), tmp_path / "sample").out_dir


@pytest.fixture(scope="module")
def sample(tmp_path_factory) -> Path:
    return sample_build(tmp_path_factory.mktemp("sample"))


def manifest_rows(out: Path, split: str) -> list[dict]:
    table = ds.dataset(out / "images" / split).to_table()
    return table.filter(pc.is_null(table.column("dedup"))).to_pylist()


def test_imagenet_lists_match_the_manifests(sample, tmp_path):
    report = export_imagenet(sample, tmp_path / "inet")
    wnids = ds.dataset(sample / "classes.parquet").to_table().column("wnid").to_pylist()
    assert (tmp_path / "inet" / "synsets.txt").read_text().splitlines() == wnids
    for split in ("train", "eval"):
        rows = manifest_rows(sample, split)
        expected = [" ".join([r["path"], *map(str, r["labels"])]) for r in rows if r["path"] and r["labels"]]
        assert (tmp_path / "inet" / f"{split}.txt").read_text().splitlines() == expected
        assert report.files[f"{split}.txt"] == len(expected) > 0
    kept = manifest_rows(sample, "train") + manifest_rows(sample, "eval")
    assert report.skipped.get("no local file", 0) == sum(r["path"] is None for r in kept) > 0


def test_multihot_matrix_matches_the_manifests(sample, tmp_path):
    export_multihot(sample, tmp_path / "mh")
    n_classes = ds.dataset(sample / "classes.parquet").to_table().num_rows
    for split in ("train", "eval"):
        rows = manifest_rows(sample, split)
        matrix = scipy.sparse.load_npz(tmp_path / "mh" / f"{split}.npz")
        assert matrix.shape == (len(rows), n_classes)
        dense = np.zeros(matrix.shape, np.float32)
        for i, r in enumerate(rows):
            dense[i, r["labels"]] = r["confidences"]
        assert (matrix.toarray() == dense).all()
        ids = ds.dataset(tmp_path / "mh" / f"{split}_images.parquet").to_table()
        assert ids.column("image_id").to_pylist() == [r["image_id"] for r in rows]
        assert ids.column("row").to_pylist() == list(range(len(rows)))


def digests(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


@pytest.mark.parametrize("fmt", ["tencent", "imagenet", "multihot"])
def test_exports_are_deterministic_and_rerunnable(sample, tmp_path, fmt):
    assert main(["export", fmt, str(sample), "--out", str(tmp_path / "one")]) == 0
    assert main(["export", fmt, str(sample), "--out", str(tmp_path / "two")]) == 0
    first = digests(tmp_path / "one")
    assert first == digests(tmp_path / "two")
    assert main(["export", fmt, str(sample), "--out", str(tmp_path / "one")]) == 0  # replaces its own files
    assert digests(tmp_path / "one") == first
    assert not list((tmp_path / "one").glob(".*.partial"))


def test_never_overwrites_a_file_it_did_not_write(sample, tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "train_urls.txt").write_text("mine\n")
    with pytest.raises(MlbuildError, match="not written by mlbuild"):
        export_tencent(sample, out)
    assert (out / "train_urls.txt").read_text() == "mine\n"
    assert main(["export", "tencent", str(tmp_path / "nothing"), "--out", str(out)]) == 2
    assert "build.json" in capsys.readouterr().err
