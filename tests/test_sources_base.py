"""The adapter contract: every adapter yields exactly the common schemas; skip bookkeeping."""
from __future__ import annotations

import pyarrow as pa
import pytest
from sources_helpers import assert_conforms

from mlbuild import schemas
from mlbuild.errors import SkipReport
from mlbuild.sources.base import RepairReport, failing_rows, images_batch, labels_batch, record_skips
from mlbuild.sources.coco import Coco, CocoConfig
from mlbuild.sources.ilsvrc import IlsvrcVal, IlsvrcValConfig
from mlbuild.sources.imagenet import ImageNetFolder, ImageNetFolderConfig, ImageNetUrls, ImageNetUrlsConfig
from mlbuild.sources.openimages import OpenImages, OpenImagesConfig
from mlbuild.sources.tabular import Tabular, TabularConfig


def _adapters(src, tmp_path):
    (tmp_path / "n01443537").mkdir()
    (tmp_path / "n01443537" / "n01443537_1.JPEG").write_bytes(b"")
    (tmp_path / "list.csv").write_text("id,url,labels\n1,http://a/1.jpg,dog\n")
    return [
        ImageNetUrls(ImageNetUrlsConfig(src / "fall11_urls.txt")),
        ImageNetUrls(ImageNetUrlsConfig(src / "fall11_urls_sample.csv", format="csv")),
        ImageNetFolder(ImageNetFolderConfig(tmp_path)),
        OpenImages(OpenImagesConfig([src / "oi-images-with-rotation.csv"], [src / "oi-human-imagelabels.csv"],
                                    src / "oi-class-descriptions-v3.csv", [src / "oi-hierarchy.json"])),
        IlsvrcVal(IlsvrcValConfig(solution=src / "LOC_val_solution.csv", real=src / "real.json",
                                  sorted_order=src / "LOC_synset_mapping.txt")),
        Coco(CocoConfig([src / "instances_val2017.json"])),
        Tabular(TabularConfig(tmp_path / "list.csv", "mine", "id", "labels", url_column="url")),
    ]


def test_every_adapter_yields_exactly_the_common_schemas(fixtures, tmp_path):
    for adapter in _adapters(fixtures / "sources", tmp_path):
        images = assert_conforms(adapter.images(), schemas.IMAGES)
        labels = assert_conforms(adapter.labels(), schemas.LABELS)
        assert images.num_rows and labels.num_rows, type(adapter).__name__
        assert set(images.column("source").to_pylist()) == {adapter.name}
        assert all(i.startswith(f"{adapter.name}:") for i in images.column("image_id").to_pylist())
        assert all(i.startswith(f"{adapter.name}:") for i in labels.column("image_id").to_pylist())
        assert_conforms(adapter.classes(), schemas.CLASSES)
        assert_conforms(adapter.hierarchy(), schemas.SOURCE_EDGES)
        assert adapter.label_kind in ("wnid", "mid", "synset", "name", "tag")
        assert all(isinstance(r, SkipReport) for r in adapter.skips)


def test_failing_rows_reports_each_row_once_under_its_first_reason():
    first = pa.array([True, False, None, False])
    second = pa.array([True, True, False, False])
    failures, keep = failing_rows([(first, "a"), (second, "b")])
    assert keep.to_pylist() == [False, False, False, True]
    report = SkipReport("f.txt")
    record_skips(report, 10, failures)
    assert report.count == 3 and report.examples == [(10, "a"), (12, "a"), (11, "b")]
    assert failing_rows([(pa.array([False, False]), "a")]) == ([], None)


def test_batch_builders_fill_nulls_and_refuse_unknown_columns():
    batch = images_batch("src", pa.array(["1", "2"]), "train", url=pa.array(["u1", "u2"]))
    assert batch.schema.equals(schemas.IMAGES) and batch.column("md5").null_count == 2
    with pytest.raises(ValueError, match="not in the schema"):
        images_batch("src", pa.array(["1"]), "train", width=pa.array([1]))
    labels = labels_batch("src", pa.array(["1"]), pa.array(["c"]), 0.5, "machine")
    assert labels.to_pylist() == [{"image_id": "src:1", "source_class": "c", "confidence": 0.5,
                                   "label_source": "machine"}]


def test_repair_report_summary():
    report = RepairReport("f.txt")
    assert report.summary() == "f.txt: no rows repaired"
    report.extend([3, 9], "re-encoded")
    assert report.summary() == "f.txt: 2 rows repaired (line 3: re-encoded, line 9: re-encoded)"
