"""Evaluation sets: ILSVRC-2012 validation (three class orders, devkit ground truth, ReaL) and COCO."""
from __future__ import annotations

import numpy as np
import pyarrow.compute as pc
import pytest
from sources_helpers import assert_conforms

from mlbuild import schemas
from mlbuild.errors import InputError, MlbuildError
from mlbuild.sources.coco import Coco, CocoConfig
from mlbuild.sources.ilsvrc import (
    DevkitOrder,
    IlsvrcVal,
    IlsvrcValConfig,
    ListOrder,
    SortedWnidOrder,
    read_devkit_ground_truth,
    read_loc_solution,
    read_real,
)


@pytest.fixture
def src(fixtures):
    return fixtures / "sources"


def test_orders_are_distinct_types_and_checked(src, tmp_path):
    sorted_order = SortedWnidOrder.from_file(src / "LOC_synset_mapping.txt")
    devkit = DevkitOrder.from_file(src / "map_clsloc.txt")
    assert sorted_order.wnids.to_pylist() == ["n01440764", "n01443537", "n02084071", "n02121808"]
    assert devkit.wnids.to_pylist() == ["n02121808", "n01443537", "n02084071", "n01440764"]
    assert DevkitOrder.from_file(src / "map_clsloc_noheader.txt").wnids.equals(devkit.wnids)
    assert devkit.names[0].as_py() == "house_cat" and sorted_order.names[1].as_py() == "goldfish, Carassius auratus"
    with pytest.raises(InputError, match="not sorted"):
        SortedWnidOrder.from_file(src / "map_clsloc_noheader.txt")
    with pytest.raises(MlbuildError, match="SortedWnidOrder, not DevkitOrder"):
        read_real(src / "real.json", devkit)
    with pytest.raises(MlbuildError, match="DevkitOrder, not SortedWnidOrder"):
        read_devkit_ground_truth(src / "ILSVRC2012_validation_ground_truth.txt", sorted_order)
    listed = ListOrder.from_file(src / "class_list.txt", "my-head-order")
    with pytest.raises(MlbuildError, match="not ListOrder"):
        read_real(src / "real.json", listed)
    gaps = tmp_path / "map.txt"
    gaps.write_text("n02121808 1 a\nn01443537 3 b\n")
    with pytest.raises(InputError, match="not exactly 1..N"):
        DevkitOrder.from_file(gaps)
    gaps.write_text("folder label name\n\nn02121808 1 a\nn01443537 two b\n")
    with pytest.raises(InputError, match="not an integer") as err:
        DevkitOrder.from_file(gaps)
    assert (err.value.line, err.value.field) == (4, "id")


def test_ground_truth_solution_and_real_agree(src):
    devkit = DevkitOrder.from_file(src / "map_clsloc.txt")
    truth = read_devkit_ground_truth(src / "ILSVRC2012_validation_ground_truth.txt", devkit)
    solution = read_loc_solution(src / "LOC_val_solution.csv")
    assert truth.to_pylist() == solution.to_pylist()
    real, excluded = read_real(src / "real.json", SortedWnidOrder.from_file(src / "LOC_synset_mapping.txt"))
    assert excluded.tolist() == [3]
    assert real.to_pylist() == [{"image": "ILSVRC2012_val_00000001", "wnid": "n01443537"},
                                {"image": "ILSVRC2012_val_00000002", "wnid": "n02121808"},
                                {"image": "ILSVRC2012_val_00000002", "wnid": "n02084071"},
                                {"image": "ILSVRC2012_val_00000004", "wnid": "n01440764"}]


def test_out_of_range_index_names_the_line(src, tmp_path):
    gt = tmp_path / "gt.txt"
    gt.write_text("2\n5\n")
    with pytest.raises(InputError, match="outside DevkitOrder 1..4") as err:
        read_devkit_ground_truth(gt, DevkitOrder.from_file(src / "map_clsloc.txt"))
    assert err.value.line == 2
    gt.write_text("2\n\n3 \nx\n")
    with pytest.raises(InputError, match="not an integer") as err:
        read_devkit_ground_truth(gt, DevkitOrder.from_file(src / "map_clsloc.txt"))
    assert err.value.line == 4


def test_ilsvrc_adapter(src, tmp_path):
    adapter = IlsvrcVal(IlsvrcValConfig(ground_truth=src / "ILSVRC2012_validation_ground_truth.txt",
                                        devkit_order=src / "map_clsloc.txt", real=src / "real.json",
                                        sorted_order=src / "LOC_synset_mapping.txt", images_dir=tmp_path))
    images = assert_conforms(adapter.images(), schemas.IMAGES)
    assert images.column("split").unique().to_pylist() == ["eval"]
    assert images.column("path")[0].as_py() == f"{tmp_path}/ILSVRC2012_val_00000001.JPEG"
    labels = assert_conforms(adapter.labels(), schemas.LABELS)
    assert labels.group_by("label_source").aggregate([("image_id", "count")]).sort_by("label_source").to_pylist() \
        == [{"label_source": "ilsvrc2012", "image_id_count": 4}, {"label_source": "real", "image_id_count": 4}]
    real_report = adapter.skips[-1]
    assert real_report.count == 1 and real_report.examples[0][0] == 3
    classes = assert_conforms(adapter.classes(), schemas.CLASSES)
    assert classes.column("wnid").to_pylist()[0] == "n01440764"
    with pytest.raises(MlbuildError, match="exactly one"):
        IlsvrcVal(IlsvrcValConfig())
    with pytest.raises(MlbuildError, match="needs sorted_order"):
        IlsvrcVal(IlsvrcValConfig(solution=src / "LOC_val_solution.csv", real=src / "real.json"))


def test_real_ilsvrc_files_reproduce_the_devkit_ground_truth(shared_data, tmp_path):
    ilsvrc = shared_data / "ilsvrc2012"
    devkit = DevkitOrder.from_file(ilsvrc / "map_clsloc.txt")
    solution = read_loc_solution(ilsvrc / "LOC_val_solution.csv")
    assert solution.num_rows == 50_000
    ids = np.asarray(pc.index_in(solution.column("wnid"), value_set=devkit.wnids)) + 1
    assert ids[:10].tolist() == [490, 361, 171, 822, 297, 482, 13, 704, 599, 164]  # devkit file head
    gt = tmp_path / "ILSVRC2012_validation_ground_truth.txt"
    gt.write_text("".join(f"{i}\n" for i in ids))
    assert read_devkit_ground_truth(gt, devkit).equals(solution)
    sorted_order = SortedWnidOrder.from_file(ilsvrc / "LOC_synset_mapping.txt")
    assert SortedWnidOrder.from_file(ilsvrc / "imagenet_synsets.txt").wnids.equals(sorted_order.wnids)
    real, excluded = read_real(shared_data / "imagenet_real" / "real.json", sorted_order)
    assert len(excluded) == 3_163
    assert len(real.column("image").unique()) == 50_000 - 3_163
    agree = real.join(solution, ["image", "wnid"], join_type="inner").num_rows
    assert agree > 0.8 * (50_000 - 3_163)  # ReaL mostly contains the original label


def test_real_coco_captions(shared_data):
    captions = Coco(CocoConfig([shared_data / "coco" / "captions_val2017.json"]))
    images = assert_conforms(captions.images(), schemas.IMAGES)
    assert images.num_rows == 5_000 and images.column("url").null_count == 0
    assert images.column("image_id")[0].as_py() == "coco:397133"
    assert list(captions.labels()) == [] and captions.classes().num_rows == 0
    details = captions.details()
    assert details.num_rows == 5_000 and details.column("width").null_count == 0


def test_coco_instances_fixture(src):
    adapter = Coco(CocoConfig([src / "instances_val2017.json"], url="flickr"))
    images = assert_conforms(adapter.images(), schemas.IMAGES)
    assert images.column("url")[0].as_py().startswith("http://farm7.staticflickr.com/")
    labels = assert_conforms(adapter.labels(), schemas.LABELS)
    assert [(r["image_id"], r["source_class"]) for r in labels.to_pylist()] == [
        ("coco:37777", "traffic light"), ("coco:397133", "person"), ("coco:397133", "traffic light")]
    assert assert_conforms(adapter.classes(), schemas.CLASSES).column("source_class").to_pylist() == \
        ["person", "traffic light"]
    assert adapter.details().column("height").to_pylist() == [427, 230]


def test_coco_bad_file(tmp_path):
    path = tmp_path / "x.json"
    path.write_text('{"annotations": []}')
    with pytest.raises(InputError, match="no `images` list"):
        list(Coco(CocoConfig([path])).images())
    path.write_text('{"images": [{"id": "x"}]}')
    with pytest.raises(InputError, match="bad image entry"):
        list(Coco(CocoConfig([path])).images())
