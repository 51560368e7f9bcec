"""ImageNet-21k adapters: the fall11 URL list (TSV and the CSV re-save), class lists, a folder tree."""
from __future__ import annotations

import pyarrow as pa
import pytest
from sources_helpers import assert_conforms

from mlbuild import schemas
from mlbuild.errors import InputError
from mlbuild.sources.imagenet import (
    ImageNetFolder,
    ImageNetFolderConfig,
    ImageNetUrls,
    ImageNetUrlsConfig,
    decode_urls,
    unquote,
)
from mlbuild.sources.wnids import class_list, read_lemmas, read_wnid_list

GOOD_LINES = [1, 2, 3, 4, 7, 11, 12, 13, 14]
SKIPPED = {5: "no TAB", 6: "no TAB", 8: "no TAB", 9: "image id", 10: "empty URL"}


def _urls(fixtures, **kw) -> ImageNetUrls:
    return ImageNetUrls(ImageNetUrlsConfig(fixtures / "sources" / "fall11_urls.txt", **kw))


@pytest.mark.parametrize("block_bytes", [64, 300, 1 << 20])
def test_fall11_quirks_are_skipped_or_repaired_with_exact_lines(fixtures, block_bytes):
    adapter = _urls(fixtures, block_bytes=block_bytes)
    images = assert_conforms(adapter.images(), schemas.IMAGES)
    assert images.num_rows == len(GOOD_LINES)
    [skips] = adapter.skips
    assert skips.count == len(SKIPPED)
    assert sorted(n for n, _ in skips.examples) == sorted(SKIPPED)
    assert all(SKIPPED[n] in why for n, why in skips.examples)
    [repairs] = adapter.repairs
    assert repairs.count == 1 and repairs.examples[0][0] == 3
    urls = dict(zip(images.column("source_image_id").to_pylist(), images.column("url").to_pylist()))
    assert urls["n02084071_102"] == "http://www.example.de/bilder/m%FCller_hund.jpg"
    assert urls["n02084071_103"] == "http://www.example.cn/图片/dog.jpg"
    assert urls["n02121808_200"] == "http://farm1.static.flickr.com/55/123456789_abcdef0123.jpg\tjunk"
    assert urls["n01443537_8"] == "http://img.example.com/a,b,c.jpg"  # last line, no final newline
    assert images.column("image_id")[0].as_py() == "imagenet21k:n02084071_100"
    assert set(images.column("split").to_pylist()) == {"train"}


def test_fall11_labels_are_the_wnid_prefix(fixtures):
    adapter = _urls(fixtures)
    labels = assert_conforms(adapter.labels(), schemas.LABELS)
    assert labels.num_rows == len(GOOD_LINES)
    assert labels.column("source_class").to_pylist()[:2] == ["n02084071", "n02084071"]
    assert set(labels.column("confidence").to_pylist()) == {1.0}
    assert set(labels.column("label_source").to_pylist()) == {"imagenet"}
    assert adapter.skips[0].count == len(SKIPPED)  # a second pass replaces, not adds to, the report


def test_fall11_classes_from_the_file_or_a_subset(fixtures, tmp_path):
    found = assert_conforms(_urls(fixtures, lemmas=fixtures / "sources" / "words.txt").classes(), schemas.CLASSES)
    assert found.column("wnid").to_pylist() == ["n01443537", "n02084071", "n02121808"]
    assert found.column("name")[1].as_py() == "dog, domestic dog, Canis familiaris"
    assert _urls(fixtures, classes=fixtures / "sources" / "class_list.txt").classes().num_rows == 3
    fish = tmp_path / "fish.txt"
    fish.write_text("n01443537\n")
    adapter = _urls(fixtures, classes=fish)
    ids = assert_conforms(adapter.images(), schemas.IMAGES).column("source_image_id")
    assert ids.to_pylist() == ["n01443537_7", "n01443537_8"]
    assert adapter.classes().column("source_class").to_pylist() == ["n01443537"]


def test_fall11_wrong_format_option_is_an_input_error(fixtures):
    adapter = ImageNetUrls(ImageNetUrlsConfig(fixtures / "sources" / "fall11_urls_sample.csv", format="tsv"))
    with pytest.raises(InputError, match="wrong format option") as err:
        list(adapter.images())
    assert err.value.line == 1


def test_csv_resave_with_crlf_and_quoted_urls(fixtures):
    adapter = ImageNetUrls(ImageNetUrlsConfig(fixtures / "sources" / "fall11_urls_sample.csv", format="csv"))
    images = assert_conforms(adapter.images(), schemas.IMAGES)
    assert images.column("url").to_pylist() == [
        "http://farm4.static.flickr.com/3178/2614147932_a532eb3dfc.jpg",
        "http://img.example.cn/0/0,0,379,15218,200,401,cef9f19d.jpg",
        'http://www.example.com/say "cheese", please.jpg',
        "http://www.example.sh.cn/picimage/口琴.jpg"]
    assert adapter.skips[0].examples == [(5, "no comma after the image id")]


def test_unquote_and_decode_are_columnar_and_exact():
    fields = pa.array([b'"a,b"', b'plain', b'"say ""x"""', b'"'], pa.binary())
    assert unquote(fields).to_pylist() == [b"a,b", b"plain", b'say "x"', b'"']
    text, repaired = decode_urls(pa.array([b"http://a/\xe9", b"http://b/\xc3\xa9", b"http://c/"], pa.binary()))
    assert text.to_pylist() == ["http://a/%E9", "http://b/é", "http://c/"]
    assert repaired.tolist() == [0]
    text, repaired = decode_urls(pa.array([b"a", b"\xe9", b"b\xc3\xa9", b"\xff"], pa.binary()).slice(0))
    assert text.to_pylist() == ["a", "%E9", "bé", "%FF"] and repaired.tolist() == [1, 3]
    assert decode_urls(pa.array([b"ok"], pa.binary()))[1] is None


def test_real_fall11_sample(shared_data):
    path = shared_data / "imagenet21k" / "fall11_urls_sample" / "200words100urls.csv"
    adapter = ImageNetUrls(ImageNetUrlsConfig(path, format="csv"))
    images = assert_conforms(adapter.images(), schemas.IMAGES)
    assert images.num_rows == 20_000 and adapter.skips[0].count == 0
    assert images.column("url").null_count == 0
    assert not any(u.startswith('"') for u in images.column("url").to_pylist())
    assert adapter.classes().num_rows == 200


def test_real_class_lists_and_lemmas(shared_data):
    folder = shared_data / "imagenet21k"
    assert len(class_list("fall11", folder)) == 21_841
    assert len(class_list("21k-p-winter21", folder)) == 10_450
    assert "n04399382" not in set(class_list("fall11", folder).to_pylist())  # teddy bear: ILSVRC only
    assert "n04399382" in set(class_list("ms22k", folder).to_pylist())
    words = read_lemmas(shared_data / "imagenet" / "words.txt")
    assert words.num_rows == 82_115  # the last line has no newline
    lemmas = read_lemmas(folder / "imagenet_synset_to_lemma.txt")
    assert lemmas.num_rows == 21_844
    with pytest.raises(InputError, match="11,221 WNIDs where this list has 21,841"):
        read_wnid_list(folder / "imagenet21k_miil_synsets.txt", expected=21_841)


def test_class_list_errors_name_the_line(tmp_path):
    bad = tmp_path / "list.txt"
    bad.write_text("n01440764\n\nn0144\n")
    with pytest.raises(InputError) as err:
        read_wnid_list(bad)
    assert err.value.line == 3
    with pytest.raises(InputError, match="needs the folder"):
        class_list("fall11")


def test_folder_tree(tmp_path):
    for wnid, files in {"n01443537": ["n01443537_1.JPEG", "n01443537_2.jpg", "notes.txt"],
                        "n02084071": ["n02084071_9.JPEG"], "misc": ["x.JPEG"]}.items():
        (tmp_path / wnid).mkdir()
        for name in files:
            (tmp_path / wnid / name).write_bytes(b"")
    adapter = ImageNetFolder(ImageNetFolderConfig(tmp_path, batch_rows=2))
    images = assert_conforms(adapter.images(), schemas.IMAGES)
    assert images.column("source_image_id").to_pylist() == ["n01443537_1", "n01443537_2", "n02084071_9"]
    assert images.column("path")[0].as_py() == str(tmp_path / "n01443537" / "n01443537_1.JPEG")
    assert images.column("url").null_count == 3
    assert adapter.skips[0].examples == [(0, "folder 'misc' is not a WNID")]
    labels = assert_conforms(adapter.labels(), schemas.LABELS)
    assert labels.column("source_class").to_pylist() == ["n01443537", "n01443537", "n02084071"]
    assert assert_conforms(adapter.classes(), schemas.CLASSES).num_rows == 2
