"""The Tencent ML-Images adapter and the published hierarchy readers, on our fixtures and the real files."""
from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest
from sources_helpers import assert_conforms, reference_tokens

from mlbuild import schemas
from mlbuild.errors import InputError
from mlbuild.sources.hierarchies import read_hierarchy
from mlbuild.sources.tencent import Tencent, TencentConfig


def fixture_dir(fixtures: Path) -> Path:
    return fixtures / "sources" / "tencent"


def read_all(adapter: Tencent) -> tuple[pa.Table, pa.Table, list]:
    batches = list(adapter.image_label_batches())
    images = assert_conforms([b[0] for b in batches], schemas.IMAGES)
    labels = assert_conforms([b[1] for b in batches], schemas.LABELS)
    starts = [0]
    for b in batches:
        starts.append(starts[-1] + b[0].num_rows)
    return images, labels, [start + r for start, b in zip(starts, batches) for r in b[2].tolist()]


def check_against_reference(path: Path, dictionary: Path, block_bytes: int = 1 << 20) -> Tencent:
    adapter = Tencent(TencentConfig([path], dictionary, block_bytes=block_bytes))
    images, labels, rows = read_all(adapter)
    wnids = read_hierarchy(dictionary, "tencent").wnids
    expected_images, expected_labels = [], []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        image, good, _ = reference_tokens(line, len(wnids))
        if image:
            expected_images.append((f"tencent:{path.stem}:{number}", image))
            expected_labels += [(f"tencent:{path.stem}:{number}", wnids[i], pytest.approx(c)) for i, c in good]
    assert list(zip(images.column("image_id").to_pylist(), images.column("url").to_pylist())) == expected_images
    got = list(zip(labels.column("image_id").to_pylist(), labels.column("source_class").to_pylist(),
                   labels.column("confidence").to_pylist()))
    assert got == expected_labels
    assert [images.column("image_id")[r].as_py() for r in rows] == labels.column("image_id").to_pylist()
    assert set(labels.column("label_source").to_pylist()) <= {"tencent"}
    return adapter


def test_fixture_list_matches_the_slow_reader_and_counts_bad_tokens(fixtures):
    folder = fixture_dir(fixtures)
    for block in (64, 1 << 20):  # blocks cut inside the file keep line numbers
        adapter = check_against_reference(folder / "train_urls_fixture.txt",
                                          folder / "dictionary_and_semantic_hierarchy.txt", block)
        report = adapter.skips[0]
        assert report.count == 4
        assert sorted(report.examples) == [
            (6, "label index beyond the dictionary's 12 classes"), (6, "label token is not idx:conf"),
            (7, "no image on the line"), (8, "label confidence not in (0, 1]")]


def test_split_from_file_name_images_dir_and_errors(fixtures, tmp_path):
    folder = fixture_dir(fixtures)
    dictionary = folder / "dictionary_and_semantic_hierarchy.txt"
    (tmp_path / "val_urls.txt").write_text("http://a/x.jpg 1:1\n")
    (tmp_path / "train_im_list.txt").write_text("x.jpg\t1:1\t0:1\n")
    (tmp_path / "other.txt").write_text("x.jpg 1:1\n")
    images, _, _ = read_all(Tencent(TencentConfig([tmp_path / "val_urls.txt"], dictionary)))
    assert images.column("split").to_pylist() == ["validation"]
    files = Tencent(TencentConfig([tmp_path / "train_im_list.txt"], dictionary, images_dir=Path("/data/ml")))
    images, labels, _ = read_all(files)
    assert images.column("path").to_pylist() == ["/data/ml/x.jpg"] and images.column("url").null_count == 1
    assert labels.num_rows == 2
    as_urls = Tencent(TencentConfig([tmp_path / "train_im_list.txt"], dictionary))
    images, _, _ = read_all(as_urls)
    assert images.num_rows == 0 and "not a URL" in as_urls.skips[0].summary()
    with pytest.raises(InputError, match="split"):
        Tencent(TencentConfig([tmp_path / "other.txt"], dictionary))


def test_real_samples_match_the_slow_reader(shared_data):
    folder = shared_data / "tencent"
    adapter = check_against_reference(folder / "train_urls_tiny.txt", folder / "dictionary_and_semantic_hierarchy.txt",
                                      4096)
    assert adapter.skips[0].count == 0
    assert adapter.classes().num_rows == 11_166 and adapter.hierarchy().num_rows == 11_162


def test_real_published_hierarchies(shared_data):
    tencent = read_hierarchy(shared_data / "tencent" / "dictionary_and_semantic_hierarchy.txt", "tencent")
    wordtree = read_hierarchy(shared_data / "wordtree" / "9k.tree", "wordtree")
    is_a = read_hierarchy(shared_data / "imagenet" / "is_a.txt", "is_a")
    assert (len(tencent.wnids), len(tencent.edges)) == (11_166, 11_162)
    assert tencent.wnids[:9418] == wordtree.wnids and wordtree.names[0] == "thing"
    assert (len(is_a.edges), sum(not p for p in is_a.parents().values())) == (75_850, 12)


def test_hierarchy_errors_name_the_line(fixtures, tmp_path):
    bad = tmp_path / "dictionary.txt"
    text = (fixture_dir(fixtures) / "dictionary_and_semantic_hierarchy.txt").read_text()
    bad.write_text(text.replace("\t7\tanimal", "\t12\tanimal"))
    with pytest.raises(InputError, match=r"dictionary.txt:7: field 'parent'"):
        read_hierarchy(bad, "tencent")
    with pytest.raises(InputError, match="hierarchy format"):
        read_hierarchy(bad, "yolo")
    (tmp_path / "9k.tree").write_text("n00001740 -1\nn00021939 0\n")
    (tmp_path / "9k.names").write_text("entity\n")
    with pytest.raises(InputError, match="1 names for the 2 classes"):
        read_hierarchy(tmp_path / "9k.tree", "wordtree")
    bad.write_text(text.replace("0\tn00001740\t-1", "0\tn00001740\t6"))
    with pytest.raises(InputError, match="cycle"):
        read_hierarchy(bad, "tencent")
