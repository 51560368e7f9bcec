"""Label semantics end to end, from real-format Open Images and ILSVRC-2012 files through `build`.

The must-hold cases of issue 12: a verified "no Cat" with Cat out of the vocabulary is no negative of
Animal or Dog (whichever way Cat left), and a machine "Dog" at 0.55 against a human "no Animal" gives
neither Dog nor Animal by default; plus merges, provenance, conflicts, label sets and class statistics.
"""
from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from mlbuild.config import config_from_dict
from mlbuild.errors import InputError
from mlbuild.pipeline import build

MIDS = {"Animal": ("/m/0jbk", "n00015388"), "Dog": ("/m/0bt9lr", "n02084071"), "Cat": ("/m/01yrx", "n02121620"),
        "Domestic cat": ("/m/01c9yw", "n02121808"), "Big cat": ("/m/0ccs93", "n02127808")}
IMAGE_HEADER = ("ImageID,Subset,OriginalURL,OriginalLandingURL,License,AuthorProfileURL,Author,Title,OriginalSize,"
                "OriginalMD5,Thumbnail300KURL,Rotation\n")


def image_id(number: int) -> str:
    return f"{number:016x}"


def open_images(folder: Path, human: list[tuple[int, str, int]], machine: list[tuple[int, str, float]] = ()) -> dict:
    """Real-format Open Images files (image list, human and machine image labels, descriptions, class map)."""
    numbers = sorted({n for n, *_ in [*human, *machine]})
    (folder / "images.csv").write_text(IMAGE_HEADER + "".join(
        f"{image_id(n)},train,https://farm1.staticflickr.com/1/{n}_o.jpg,,https://creativecommons.org/licenses/"
        f"by/2.0/,,,,100,,,0.0\n" for n in numbers))
    (folder / "human.csv").write_text("ImageID,Source,LabelName,Confidence\n" + "".join(
        f"{image_id(n)},verification,{MIDS[name][0]},{conf}\n" for n, name, conf in human))
    (folder / "machine.csv").write_text("ImageID,Source,LabelName,Confidence\n" + "".join(
        f"{image_id(n)},machine,{MIDS[name][0]},{conf}\n" for n, name, conf in machine))
    (folder / "classes.csv").write_text("LabelName,DisplayName\n" + "".join(f"{m},{n}\n" for n, (m, _) in MIDS.items()))
    (folder / "map.csv").write_text("mid,wnid\n" + "".join(f"{m},{w}\n" for m, w in MIDS.values()))
    return {"kind": "openimages", "image_lists": ["images.csv"], "label_files": ["human.csv", "machine.csv"],
            "descriptions": "classes.csv", "class_map": "map.csv"}


def run(folder: Path, source: dict, **sections) -> tuple[dict, dict, dict]:
    """Build; returns (image rows by image number, class rows by name, build.json)."""
    config = config_from_dict({"source": [source], "build": {"partition_images": 4, "workers": 1},
                               "dedup": {"enabled": False}, **sections}, base=folder)
    out = build(config, folder / "out").out_dir
    classes = {r["name"]: r for r in pq.read_table(out / "classes.parquet").to_pylist()}
    index = {r["class_index"]: name for name, r in classes.items()}
    images = {}
    for row in pq.read_table(out / "images").to_pylist():
        row["each"] = {index[c]: v for c, *v in zip(row["labels"], row["confidences"], row["label_provenance"],
                                                    row["label_sources"])}
        for column in ("labels", "direct_labels", "negatives", "conflicts"):
            row[column] = {index[c] for c in row[column]}
        images[int(row["source_image_id"], 16)] = row
    return images, classes, json.loads((out / "build.json").read_text())


CAT = MIDS["Cat"][1]
# image 1: verified "no Cat"; images 2, 3: Dog; 4, 5: a domestic cat (so Cat has a kept descendant); 6: Animal
NO_CAT = [(1, "Cat", 0), (2, "Dog", 1), (3, "Dog", 1), (4, "Domestic cat", 1), (5, "Domestic cat", 1),
          (6, "Animal", 1)]


@pytest.mark.parametrize("how", [
    {"classes": {"exclude": [CAT]}},
    {"taxonomy": {"drop": [CAT]}},
    {"classes": {"include": [MIDS[n][1] for n in ("Animal", "Dog", "Domestic cat")]}},
])
def test_a_negative_of_a_dropped_class_goes_to_its_kept_descendants_only(tmp_path, how):
    images, classes, record = run(tmp_path, open_images(tmp_path, NO_CAT), **how)
    assert record["counts"]["sources"]["openimages"]["negatives_without_class"] == 0
    assert "cat" not in classes and images[1]["negatives"] == {"domestic cat"}
    assert images[1]["labels"] == set()
    assert images[4]["labels"] == {"animal", "domestic cat"}  # its positive still goes up past Cat


def test_a_negative_of_a_class_dropped_by_min_images_without_kept_descendants_is_dropped(tmp_path):
    images, classes, record = run(tmp_path, open_images(tmp_path, NO_CAT[:3] + NO_CAT[5:]), classes={"min_images": 2})
    assert "cat" not in classes and set(classes) == {"animal", "dog"}
    assert images[1]["negatives"] == set() and images[1]["labels"] == set()
    counts = record["counts"]["sources"]["openimages"]
    assert (counts["negatives_without_class"], counts["positives_without_class"]) == (1, 0)


def test_merges_move_negatives_only_when_they_join_one_concept(tmp_path):
    human = [(1, "Domestic cat", 0), (2, "Big cat", 0), (3, "Domestic cat", 1), (4, "Big cat", 1), (5, "Dog", 1),
             (6, "Animal", 1), (7, "Cat", 1)]
    merge = [{"from": MIDS["Domestic cat"][1], "into": CAT},   # narrower into its ancestor: negatives dropped
             {"from": MIDS["Big cat"][1], "into": MIDS["Dog"][1]}]  # not an ancestor: one concept, they move
    images, classes, _ = run(tmp_path, open_images(tmp_path, human), taxonomy={"merge": merge})
    assert "domestic cat" not in classes and "big cat" not in classes
    assert images[1]["negatives"] == set()
    assert images[2]["negatives"] == {"dog"}
    assert images[3]["labels"] == {"animal", "cat"} and images[4]["labels"] == {"animal", "dog"}


MACHINE_DOG = dict(human=[(1, "Animal", 0), (2, "Dog", 1), (3, "Cat", 1)], machine=[(1, "Dog", 0.55)])


def test_a_human_negative_removes_machine_positives_below_it_by_default(tmp_path):
    images, _, record = run(tmp_path, open_images(tmp_path, **MACHINE_DOG))
    assert images[1]["labels"] == set() and images[1]["direct_labels"] == set()
    assert images[1]["negatives"] == {"animal", "dog", "cat"} and images[1]["conflicts"] == {"dog"}
    assert record["counts"]["conflicts"] == {"machine_positive_removed": 1, "positive_over_negative": 0}


def test_positive_first_keeps_the_machine_positive_and_records_the_conflict(tmp_path):
    images, _, record = run(tmp_path, open_images(tmp_path, **MACHINE_DOG), labels={"conflicts": "positive_first"})
    assert images[1]["labels"] == {"animal", "dog"} and images[1]["negatives"] == {"cat"}
    assert images[1]["conflicts"] == {"animal", "dog"} and images[1]["confidences"] == pytest.approx([0.55, 0.55])
    assert record["counts"]["conflicts"] == {"machine_positive_removed": 0, "positive_over_negative": 2}


def test_provenance_and_sources_run_parallel_to_labels(tmp_path):
    source = open_images(tmp_path, [(1, "Dog", 1), (2, "Cat", 1)], machine=[(1, "Animal", 0.8), (1, "Cat", 0.6)])
    images, _, record = run(tmp_path, source)
    row = images[1]
    assert record["sources"] == ["openimages"]
    assert record["label_provenance"] == ["direct-human", "direct-machine", "implied"]
    # animal: direct machine (0.8) and implied by the human dog (1.0); cat: machine only
    assert row["each"] == {"animal": [1.0, 1, 1], "dog": [1.0, 0, 1], "cat": [pytest.approx(0.6), 1, 1]}


def test_class_statistics_per_split_and_pos_weight_conventions(tmp_path):
    human = [(1, "Dog", 1), (2, "Dog", 0), (3, "Cat", 1), (4, "Animal", 0), (5, "Cat", 1)]
    source = open_images(tmp_path, human)
    _, classes, record = run(tmp_path, source)
    dog = classes["dog"]
    assert (dog["positives_train"], dog["verified_negatives_train"], dog["usable_train"]) == (1, 2, 5)
    assert dog["pos_weight"] == pytest.approx(4.0) and record["counts"]["images"] == {"train": 5}
    _, classes, _ = run(tmp_path, source, stats={"negatives": "verified_only"})
    assert classes["dog"]["pos_weight"] == pytest.approx(2.0)
    assert classes["animal"]["verified_negatives_train"] == 1 and classes["animal"]["positives_train"] == 3


def test_unknown_policy_is_an_input_error(tmp_path):
    with pytest.raises(InputError, match=r"\[labels\] conflicts: got .machine_first., allowed"):
        config_from_dict({"source": [{"kind": "openimages"}], "labels": {"conflicts": "machine_first"}})
    with pytest.raises(InputError, match=r"\[stats\] negatives: got .some., allowed"):
        config_from_dict({"source": [{"kind": "openimages"}], "stats": {"negatives": "some"}})


def test_an_evaluation_set_keeps_its_label_sets_apart(tmp_path, fixtures):
    src = fixtures / "sources"
    source = {"kind": "ilsvrc2012_val", "solution": str(src / "LOC_val_solution.csv"),
              "real": str(src / "real.json"), "sorted_order": str(src / "LOC_synset_mapping.txt")}
    config = config_from_dict({"eval": [source], "dedup": {"enabled": False}, "build": {"workers": 1}},
                              base=tmp_path)
    out = build(config, tmp_path / "out").out_dir
    wnids = {r["class_index"]: r["wnid"] for r in pq.read_table(out / "classes.parquet").to_pylist()}
    rows = {r["source_image_id"][-1]: r for r in pq.read_table(out / "images").to_pylist()}
    direct = {k: ([wnids[c] for c in r["direct_labels"]],
                  None if r["real_direct_labels"] is None else [wnids[c] for c in r["real_direct_labels"]])
              for k, r in rows.items()}
    # real.json: [[1], [3, 2], [], [0]] over the sorted WNIDs tench, goldfish, dog, domestic cat
    assert direct == {"1": (["n01443537"], ["n01443537"]), "2": (["n02121808"], ["n02084071", "n02121808"]),
                      "3": (["n02084071"], None), "4": (["n01440764"], ["n01440764"])}
    assert rows["3"]["real_labels"] is None and rows["3"]["labels"] == rows["3"]["direct_labels"]
    assert set(rows["2"]["labels"]) < set(rows["2"]["real_labels"]) == set(rows["2"]["real_direct_labels"])


def test_ilsvrc_val_with_real_in_a_build_matches_the_shipped_manifest(tmp_path, shared_data):
    ilsvrc = shared_data / "ilsvrc2012"
    source = {"kind": "ilsvrc2012_val", "solution": str(ilsvrc / "LOC_val_solution.csv"),
              "real": str(shared_data / "imagenet_real" / "real.json"),
              "sorted_order": str(ilsvrc / "LOC_synset_mapping.txt")}
    config = config_from_dict({"eval": [source], "dedup": {"enabled": False}, "build": {"workers": 1}},
                              base=tmp_path)
    out = build(config, tmp_path / "out").out_dir
    wnids = pq.read_table(out / "classes.parquet").column("wnid").to_pylist()
    shipped_wnids = pq.read_table(Path(__file__).parent.parent / "manifests" / "vocabulary" /
                                  "classes.parquet").column("wnid").to_pylist()
    shipped = pq.read_table(Path(__file__).parent.parent / "manifests" / "ilsvrc2012_val.parquet").to_pylist()
    built = {r["image_id"]: r for r in pq.read_table(
        out / "images", columns=["image_id", "direct_labels", "real_direct_labels", "real_labels"]).to_pylist()}
    assert len(built) == len(shipped) == 50_000

    def names(indices, vocabulary):
        return None if indices is None else sorted(vocabulary[c] for c in indices)
    for row in shipped:
        mine = built[row["image_id"]]
        assert names(mine["direct_labels"], wnids) == names(row["original_direct"], shipped_wnids)
        assert (mine["real_labels"] is None) == row["real_excluded"]
        if not row["real_excluded"]:
            assert names(mine["real_direct_labels"], wnids) == names(row["real_direct"], shipped_wnids)


@pytest.mark.parametrize("downloads, usable, positives", [(False, 3, [2, 1]), (True, 2, [1, 1])])
def test_usable_images_are_kept_and_downloaded_when_the_build_downloads(tmp_path, downloads, usable, positives):
    import pyarrow as pa

    from mlbuild.manifests.writer import _split_counts, write_part
    table = pa.table({"split": ["train"] * 4, "path": ["a.jpg", None, "c.jpg", "d.jpg"],
                      "labels": [[0, 1], [0], [], [0]], "direct_labels": [[1], [0], [], [0]],
                      "negatives": [[], [1], [0, 1], []], "dedup": [None, None, None, "duplicate_of:x"]})
    write_part(tmp_path, 2, 0, table, pa.table({"image_id": pa.array([], pa.string())}), downloads=downloads)
    counts = _split_counts(tmp_path / "counts", 2)["train"]
    assert counts["usable"] == usable and counts["positives"].tolist() == positives
    assert counts["verified_negatives"].tolist() == ([1, 2] if not downloads else [1, 1])


DOG = MIDS["Dog"][1]


def test_a_negative_of_a_dropped_class_reaches_a_class_added_under_it(tmp_path):
    """`add_parent` puts Dog under Cat; with Cat excluded, "no Cat" is a negative of Dog too."""
    images, classes, _ = run(tmp_path, open_images(tmp_path, NO_CAT), classes={"exclude": [CAT]},
                             taxonomy={"add_parent": [{"child": DOG, "parent": CAT}]})
    assert "cat" not in classes and images[1]["negatives"] == {"domestic cat", "dog"}
    assert images[2]["labels"] == {"animal", "dog"}


def test_a_positive_of_a_dropped_class_reaches_its_added_parent(tmp_path):
    """`add_parent` puts Cat under Dog; with Cat excluded, its positives and its children's still reach Dog."""
    human = [(1, "Cat", 1), (2, "Domestic cat", 1), (3, "Dog", 0), (4, "Animal", 1)]
    images, classes, _ = run(tmp_path, open_images(tmp_path, human), classes={"exclude": [CAT]},
                             taxonomy={"add_parent": [{"child": CAT, "parent": DOG}]})
    assert "cat" not in classes
    assert images[1]["labels"] == {"animal", "dog"}
    assert images[2]["labels"] == {"animal", "dog", "domestic cat"}
    assert images[3]["negatives"] == {"dog", "domestic cat"}
