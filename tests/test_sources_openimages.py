"""Open Images adapter: image lists, image-level labels, class descriptions, hierarchy."""
from __future__ import annotations

import base64
import json

import pyarrow as pa
import pytest
from sources_helpers import assert_conforms

from mlbuild import schemas
from mlbuild.errors import InputError
from mlbuild.sources.openimages import (
    IMAGE_ID_PATTERN,
    IMAGE_ID_REGEX,
    OpenImages,
    OpenImagesConfig,
    fixed_width_match,
    md5_hex,
    read_descriptions,
    read_hierarchy,
    read_mid_list,
)


@pytest.fixture
def oi(fixtures):
    return fixtures / "sources"


def _adapter(oi, **kw) -> OpenImages:
    return OpenImages(OpenImagesConfig(image_lists=[oi / "oi-images-with-rotation.csv"],
                                       label_files=[oi / "oi-human-imagelabels.csv", oi / "oi-machine-imagelabels.csv"],
                                       descriptions=oi / "oi-class-descriptions-header.csv",
                                       hierarchies=[oi / "oi-hierarchy.json"], **kw))


def test_image_list_columns(oi):
    adapter = _adapter(oi)
    images = assert_conforms(adapter.images(), schemas.IMAGES)
    rows = {r["source_image_id"]: r for r in images.to_pylist()}
    assert sorted(rows) == ["000060e3121c7305", "0000a1b2c3d4e5f6", "0000b1b2c3d4e5f6", "0000c1b2c3d4e5f6",
                            "0001eeaf4aed83f9"]
    real = rows["000060e3121c7305"]
    assert real["url"] == "https://c1.staticflickr.com/5/4129/5215831864_ee4e8c6535_z.jpg"
    assert (real["md5"], real["size"]) == (None, None)  # they describe the original, not the thumbnail
    assert real["rotation"] == 0.0 and real["license"] == "https://creativecommons.org/licenses/by/2.0/"
    assert real["author"] == "David"  # kept for attribution (CC BY); an empty Author is null
    no_thumb = rows["0000a1b2c3d4e5f6"]
    assert no_thumb["url"] == "https://farm3.staticflickr.com/2/1234_aaaa_o.jpg"
    assert no_thumb["md5"] == base64.b64decode("rL0Y20zC+Fzt72VPzMSk2A==").hex() and no_thumb["size"] == 98765
    assert no_thumb["rotation"] == 90.0
    assert rows["0000b1b2c3d4e5f6"]["rotation"] is None and rows["0000c1b2c3d4e5f6"]["rotation"] is None
    assert rows["0001eeaf4aed83f9"]["split"] == "validation"
    [skips] = adapter.skips
    assert sorted(skips.examples) == [(6, "ImageID is not 16 lowercase hex digits"),
                                      (7, "ImageID is not 16 lowercase hex digits")]
    [repairs] = adapter.repairs
    assert repairs.examples == [(5, "OriginalMD5 is not base64 of 16 bytes: md5 left null")]


def test_original_urls_carry_md5_and_size(oi):
    images = assert_conforms(_adapter(oi, url="original").images(), schemas.IMAGES)
    real = images.filter(pa.compute.equal(images.column("source_image_id"), "000060e3121c7305")).to_pylist()[0]
    assert real["url"] == "https://c1.staticflickr.com/5/4129/5215831864_46f356962f_o.jpg"
    assert real["md5"] == "d1269dfb1323dadb5733553c99e109d0" and real["size"] == 211079


def test_labels_keep_negatives_and_skip_bad_rows(oi):
    adapter = _adapter(oi)
    labels = assert_conforms(adapter.labels(), schemas.LABELS)
    got = [(r["image_id"], r["source_class"], r["confidence"], r["label_source"]) for r in labels.to_pylist()]
    assert got == [
        ("openimages:000026e7ee790996", "/m/04hgtk", 0.0, "verification"),
        ("openimages:000026e7ee790996", "/m/01bqvp", 1.0, "crowdsource-verification"),
        ("openimages:000026e7ee790996", "/m/0bt9lr", 1.0, "verification"),
        ("openimages:000060e3121c7305", "/m/01c_0l", 1.0, "verification"),
        ("openimages:000060e3121c7305", "/m/0jbk", 0.0, "verification"),
        ("openimages:000002b66c9c498e", "/m/05_4_", pytest.approx(0.7), "machine"),
        ("openimages:000002b66c9c498e", "/m/0bt9lr", 1.0, "machine"),
        ("openimages:000002b66c9c498e", "/m/01c_0l", pytest.approx(0.15), "machine")]
    human, machine = adapter.skips
    assert sorted(human.examples) == [(6, "LabelName is not a MID"), (7, "ImageID is not 16 lowercase hex digits"),
                                      (8, "Confidence is not in [0, 1]"), (9, "empty Source")]
    assert machine.count == 0


def test_trainable_restricts_classes_and_labels(oi):
    adapter = _adapter(oi, trainable=oi / "oi-classes-trainable.txt")
    assert sorted(adapter.classes().column("source_class").to_pylist()) == ["/m/01c_0l", "/m/0bt9lr", "/m/0jbk"]
    labels = assert_conforms(adapter.labels(), schemas.LABELS)
    assert set(labels.column("source_class").to_pylist()) == {"/m/01c_0l", "/m/0bt9lr", "/m/0jbk"}


def test_descriptions_with_and_without_header(oi):
    with_header = read_descriptions(oi / "oi-class-descriptions-header.csv")
    v3 = read_descriptions(oi / "oi-class-descriptions-v3.csv")
    assert with_header.num_rows == 6 and v3.num_rows == 5
    assert with_header.column("DisplayName").to_pylist()[1:3] == ["Ducks, geese and swans", "Human head"]
    assert with_header.column("DisplayName")[5].as_py() == 'The "quoted" one'
    assert v3.column("DisplayName").to_pylist() == ["Dog", "Ducks, geese and swans", "Human head", "Sky", "Animal"]
    classes = assert_conforms(_adapter(oi).classes(), schemas.CLASSES)
    assert classes.column("wnid").null_count == 6


def test_bad_descriptions_and_headers_are_input_errors(tmp_path, oi):
    bad = tmp_path / "d.csv"
    bad.write_text("/m/01,a\nnot-a-mid,b\n")
    with pytest.raises(InputError) as err:
        read_descriptions(bad)
    assert (err.value.line, err.value.field) == (2, "LabelName")
    labels = tmp_path / "labels.csv"
    labels.write_text("ImageID,LabelName,Confidence\n000026e7ee790996,/m/01,1\n")
    with pytest.raises(InputError, match="unexpected header"):
        list(OpenImages(OpenImagesConfig(label_files=[labels])).labels())
    assert read_mid_list(oi / "oi-classes-trainable.txt").to_pylist() == ["/m/0bt9lr", "/m/01c_0l", "/m/0jbk"]


def test_hierarchy_relations_multiple_parents_and_root(oi):
    edges = assert_conforms(_adapter(oi).hierarchy(), schemas.SOURCE_EDGES)
    got = sorted(zip(edges.column("child").to_pylist(), edges.column("parent").to_pylist(),
                     edges.column("relation").to_pylist()))
    assert got == [("/m/01c_0l", "/m/0jbk", "is_a"), ("/m/01c_0l", "/m/0k4j", "is_a"),
                   ("/m/04hgtk", "/m/0bt9lr", "part_of"), ("/m/0bt9lr", "/m/0jbk", "is_a")]
    with_root = read_hierarchy(oi / "oi-hierarchy.json", keep_root=True)
    assert with_root.num_rows == 7


def test_md5_hex_matches_base64_module():
    values = ["0Sad+xMj2ttXM1U8meEJ0A==", "", "1B2M2Y8AsgTpgAmY7PhCfg==", "abc", None]
    hexed, bad = md5_hex(pa.array(values, pa.string()))
    assert hexed.to_pylist() == [base64.b64decode(values[0]).hex(), None, base64.b64decode(values[2]).hex(),
                                 None, None]
    assert bad.tolist() == [3]  # empty and null mean "not given", only "abc" is malformed
    hexed, bad = md5_hex(pa.array(values, pa.string()).slice(2, 2))  # a sliced array's offsets
    assert hexed.to_pylist() == [base64.b64decode(values[2]).hex(), None] and bad.tolist() == [1]


def test_real_class_lists_and_hierarchy(shared_data):
    oi = shared_data / "openimages"
    assert read_descriptions(oi / "oidv6-class-descriptions.csv").num_rows == 19_994
    assert read_descriptions(oi / "class-descriptions-boxable.csv").num_rows == 601
    v3 = read_descriptions(oi / "v3_2017_11" / "class-descriptions.csv")
    assert v3.num_rows == 19_995 and not any("\r" in n for n in v3.column("DisplayName").to_pylist())
    assert read_descriptions(oi / "v1_2016" / "dict.csv").num_rows == 7_881
    assert len(read_mid_list(oi / "v3_2017_11" / "classes-trainable.txt")) == 5_000
    edges = read_hierarchy(oi / "bbox_labels_600_hierarchy.json", keep_root=True)
    expected = set()

    def walk(node):  # an independent recursive walk of the same JSON
        for key, rel in (("Subcategory", "is_a"), ("Part", "part_of")):
            for child in node.get(key, []):
                expected.add((child["LabelName"], node["LabelName"], rel))
                walk(child)
    walk(json.loads((oi / "bbox_labels_600_hierarchy.json").read_text()))
    got = set(zip(*(edges.column(c).to_pylist() for c in ("child", "parent", "relation"))))
    assert got == expected
    children = {c for c, _, _ in expected}
    assert len(children) == 601  # every boxable class sits under the root somewhere
    parents_of = {}
    for c, p, _ in expected:
        parents_of.setdefault(c, set()).add(p)
    assert any(len(ps) > 1 for ps in parents_of.values())


IMAGE_ID_CASES = ["0123456789abcdef", "0000a1b2c3d4e5f6", "0123456789ABCDEF", "0123456789abcdeF", "0123456789abcde",
                  "0123456789abcdef0", "0123456789abcdeg", "0123456789abcd-f", " 123456789abcdef", "0123456789abcde\n",
                  "0123456789abcdé", "0123456789abcdeé", "0123456789abcdef\u00e9", "0123456789abcd\u0661\u0662",
                  "", None]


@pytest.mark.parametrize("start, stop", [(0, None), (3, 11), (15, None)])
def test_fixed_width_match_accepts_exactly_what_the_regex_accepts(start, stop):
    values = pa.array(IMAGE_ID_CASES, pa.string()).slice(start, None if stop is None else stop - start)
    ok, chars = fixed_width_match(values, IMAGE_ID_PATTERN)
    regex = pa.compute.match_substring_regex(values, IMAGE_ID_REGEX).to_pylist()
    assert ok.tolist() == [bool(r) for r in regex]
    assert [bytes(c).decode() for c in chars] == [v for v, r in zip(values.to_pylist(), regex) if r]
    if start == 0:
        assert ok.tolist()[:3] == [True, True, False] and ok.sum() == 2


def test_md5_hex_rejects_what_is_not_base64_of_16_bytes():
    good = base64.b64encode(bytes(range(200, 216))).decode()
    values = [good, good[:21] + "B==", good[:21] + "g==", good[:-1], good + "=", good[:20] + "é==", good[:20] + "-A=="]
    hexed, bad = md5_hex(pa.array(values, pa.string()))
    assert hexed.to_pylist() == [bytes(range(200, 216)).hex(), None, base64.b64decode(values[2]).hex(),
                                 None, None, None, None]
    assert bad.tolist() == [1, 3, 4, 5, 6]
    regex = pa.compute.match_substring_regex(pa.array(values), r"^[A-Za-z0-9+/]{21}[AQgw]==$").to_pylist()
    assert [h is not None for h in hexed.to_pylist()] == regex


def _repeated(path, out, times: int, tail: str = ""):
    """The fixture `path` with its data rows repeated `times` times (and `tail` appended)."""
    header, *rows = path.read_text().splitlines(keepends=True)
    out.write_text(header + "".join(rows) * times + tail)
    return len(rows)


@pytest.mark.parametrize("block_bytes", [64, 700])
def test_small_blocks_report_true_lines_and_give_the_same_rows(tmp_path, oi, block_bytes):
    labels, images = tmp_path / "labels.csv", tmp_path / "images.csv"
    per_label, per_image = (_repeated(oi / "oi-human-imagelabels.csv", labels, 30),
                            _repeated(oi / "oi-images-with-rotation.csv", images, 30))
    small = OpenImages(OpenImagesConfig(image_lists=[images], label_files=[labels], block_bytes=block_bytes))
    whole = OpenImages(OpenImagesConfig(image_lists=[images], label_files=[labels]))
    for kind in ("images", "labels"):
        assert pa.Table.from_batches(getattr(small, kind)()).equals(pa.Table.from_batches(getattr(whole, kind)()))
    reasons = {6: "LabelName is not a MID", 7: "ImageID is not 16 lowercase hex digits",
               8: "Confidence is not in [0, 1]", 9: "empty Source"}
    expected = {(line + r * per_label, why) for r in range(30) for line, why in reasons.items()}
    [image_skips, label_skips] = small.skips
    assert label_skips.count == 120 and set(label_skips.examples) <= expected
    assert max(line for line, _ in label_skips.examples) > 40  # from a later block when blocks are small
    assert image_skips.count == 60 and {line for line, _ in image_skips.examples} == \
        {line + r * per_image for r in range(10) for line in (6, 7)}
    [repairs] = small.repairs
    assert repairs.count == 30 and [line for line, _ in repairs.examples] == [5 + r * per_image for r in range(20)]


def test_malformed_row_in_a_later_block_names_its_line(tmp_path, oi):
    labels = tmp_path / "labels.csv"
    per_label = _repeated(oi / "oi-human-imagelabels.csv", labels, 20, "000026e7ee790996,verification,/m/04hgtk\n")
    adapter = OpenImages(OpenImagesConfig(label_files=[labels], block_bytes=128))
    with pytest.raises(InputError, match="Expected 4 columns") as err:
        list(adapter.labels())
    assert (err.value.path, err.value.line) == (str(labels), 2 + 20 * per_label)
    _repeated(oi / "oi-human-imagelabels.csv", labels, 20, "000026e7ee790996,verification,/m/04hgtk,high\n")
    with pytest.raises(InputError, match="invalid value 'high'") as err:
        list(adapter.labels())
    assert (err.value.line, err.value.field) == (2 + 20 * per_label, "Confidence")
