"""Custom CSV / Parquet / JSONL lists: ids, places, label kinds, hashtags, skips."""
from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sources_helpers import assert_conforms

from mlbuild import schemas
from mlbuild.errors import InputError
from mlbuild.sources.tabular import Tabular, TabularConfig, label_pairs

CSV = ('id,url,tags,conf,subset\n'
       '1,http://a/1.jpg,"#sunset #beach",1,train\n'
       '2,,#x,0.5,train\n'
       ',http://a/3.jpg,y,1,train\n'
       '4,http://a/4.jpg,#Dog#Cat,2,train\n'
       '5,http://a/5.jpg,"",0.25,validation\n'
       '6,http://a/6.jpg,"  #tree  ",0.75,validation\n')


def test_csv_hashtags_confidence_split_and_skips(tmp_path):
    path = tmp_path / "list.csv"
    path.write_text(CSV)
    adapter = Tabular(TabularConfig(path, "mine", "id", "tags", label_kind="tag", url_column="url",
                                    delimiter=" ", confidence_column="conf", split_column="subset"))
    assert adapter.label_kind == "tag"
    images = assert_conforms(adapter.images(), schemas.IMAGES)
    assert images.column("image_id").to_pylist() == ["mine:1", "mine:5", "mine:6"]
    assert images.column("split").to_pylist() == ["train", "validation", "validation"]
    assert sorted(adapter.skips[0].examples) == [(3, "no URL or path"), (4, "no image id"),
                                                 (5, "confidence is not in [0, 1]")]
    labels = assert_conforms(adapter.labels(), schemas.LABELS)
    assert [(r["image_id"], r["source_class"], r["confidence"]) for r in labels.to_pylist()] == [
        ("mine:1", "sunset", 1.0), ("mine:1", "beach", 1.0), ("mine:6", "tree", 0.75)]
    assert set(labels.column("label_source").to_pylist()) == {"mine"}
    assert adapter.classes().column("source_class").to_pylist() == ["beach", "sunset", "tree"]


def test_wnid_labels_are_checked_per_label(tmp_path):
    path = tmp_path / "list.csv"
    path.write_text("id,path,wnids\na,/x/a.jpg,n02084071;n0208\nb,/x/b.jpg,n02121808\n")
    adapter = Tabular(TabularConfig(path, "mine", "id", "wnids", label_kind="wnid", path_column="path",
                                    delimiter=";"))
    labels = assert_conforms(adapter.labels(), schemas.LABELS)
    assert labels.column("source_class").to_pylist() == ["n02084071", "n02121808"]
    assert adapter.skips[0].examples == [(2, "label not a WNID (n + 8 digits)")]
    classes = assert_conforms(adapter.classes(), schemas.CLASSES)
    assert classes.column("wnid").to_pylist() == ["n02084071", "n02121808"]
    images = assert_conforms(adapter.images(), schemas.IMAGES)
    assert images.column("path").to_pylist() == ["/x/a.jpg", "/x/b.jpg"] and images.column("url").null_count == 2


def test_parquet_list_column_with_integer_ids(tmp_path):
    path = tmp_path / "list.parquet"
    pq.write_table(pa.table({"id": [10, 11, 12], "url": ["u10", "u11", "u12"],
                             "synsets": [["dog.n.01", "cat"], [], None]}), path)
    adapter = Tabular(TabularConfig(path, "pq", "id", "synsets", label_kind="synset", url_column="url",
                                    batch_rows=2))
    labels = assert_conforms(adapter.labels(), schemas.LABELS)
    assert labels.to_pylist() == [{"image_id": "pq:10", "source_class": "dog.n.01", "confidence": 1.0,
                                   "label_source": "pq"}]
    assert adapter.skips[0].examples == [(1, "label not a noun synset name (lemma.n.NN)")]
    assert assert_conforms(adapter.images(), schemas.IMAGES).num_rows == 3


def test_jsonl_names_and_missing_column(tmp_path):
    path = tmp_path / "list.jsonl"
    rows = [{"id": "a", "url": "u", "labels": ["golden retriever"]}, {"id": "b", "url": "v", "labels": ["cat", "dog"]}]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    labels = assert_conforms(Tabular(TabularConfig(path, "j", "id", "labels", url_column="url")).labels(),
                             schemas.LABELS)
    assert labels.column("source_class").to_pylist() == ["golden retriever", "cat", "dog"]
    with pytest.raises(InputError, match="idx"):
        list(Tabular(TabularConfig(path, "j", "idx", "labels", url_column="url")).images())
    with pytest.raises(InputError, match="url_column or path_column"):
        Tabular(TabularConfig(path, "j", "id", "labels"))


def test_label_pairs_single_values():
    rows, values = label_pairs(pa.array(["a", None, " ", "b"]), None, "name")
    assert rows.to_pylist() == [0, 3] and values.to_pylist() == ["a", "b"]
