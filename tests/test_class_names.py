"""Open Images descriptions and ImageNet lemmas are used: classes the build cannot map directly are mapped by name."""
from __future__ import annotations

import pyarrow.parquet as pq

from mlbuild.pipeline import build

IMAGES = ("ImageID,Subset,OriginalURL,OriginalLandingURL,License,AuthorProfileURL,Author,Title,OriginalSize,"
          "OriginalMD5,Thumbnail300KURL,Rotation\n000060e3121c7305,train,https://x.org/a.jpg,,,,,,1,,,\n")
LABELS = ("ImageID,Source,LabelName,Confidence\n000060e3121c7305,verification,/m/zzzzzz,1\n"
          "000060e3121c7305,verification,/m/0104x9kv,1\n000060e3121c7305,verification,/m/0bt9lr,1\n")


def source_classes(out) -> dict[str, tuple[str, str]]:
    table = pq.read_table(out / "source_classes.parquet")
    return {c: (w, m) for c, w, m in zip(*(table.column(n).to_pylist() for n in ("source_class", "wnid", "method")))}


def test_openimages_descriptions_map_unknown_mids_by_name(tmp_path):
    (tmp_path / "images.csv").write_text(IMAGES)
    (tmp_path / "labels.csv").write_text(LABELS)
    # /m/zzzzzz is not in the shipped table; /m/0104x9kv is, with a reviewed blank WNID
    (tmp_path / "classes.csv").write_text("LabelName,DisplayName\n/m/zzzzzz,Golden retriever\n"
                                          "/m/0104x9kv,Dog\n/m/0bt9lr,Dog\n")
    (tmp_path / "h.json").write_text('{"LabelName": "/m/0bl9f", "Subcategory": [{"LabelName": "/m/0bt9lr", '
                                     '"Subcategory": [{"LabelName": "/m/zzzzzz"}]}]}')
    (tmp_path / "build.toml").write_text('[[source]]\nkind = "openimages"\nimage_lists = "images.csv"\n'
                                         'label_files = "labels.csv"\ndescriptions = "classes.csv"\n'
                                         'hierarchies = "h.json"\n[build]\nworkers = 1\n')
    build(tmp_path / "build.toml", tmp_path / "out")
    mapped = source_classes(tmp_path / "out")
    assert mapped["/m/zzzzzz"][0] == "n02099601" and mapped["/m/zzzzzz"][1].startswith("name:")  # golden retriever
    assert mapped["/m/0104x9kv"] == (None, "unmapped")          # the table's reviewed blank stays
    assert mapped["/m/0bt9lr"] == ("n02084071", "openimages_map")


def test_without_descriptions_unknown_mids_stay_unmapped(tmp_path):
    (tmp_path / "images.csv").write_text(IMAGES)
    (tmp_path / "labels.csv").write_text(LABELS)
    (tmp_path / "build.toml").write_text('[[source]]\nkind = "openimages"\nimage_lists = "images.csv"\n'
                                         'label_files = "labels.csv"\n[build]\nworkers = 1\n')
    build(tmp_path / "build.toml", tmp_path / "out")
    assert source_classes(tmp_path / "out")["/m/zzzzzz"] == (None, "unmapped")


def test_imagenet_lemmas_name_wnids_outside_wordnet(tmp_path):
    (tmp_path / "urls.txt").write_text("n99999999_1\thttp://x/1.jpg\nn02084071_2\thttp://x/2.jpg\n")
    (tmp_path / "words.txt").write_text("n99999999\tgolden retriever\nn02084071\tdog, domestic dog\n")
    (tmp_path / "build.toml").write_text('[[source]]\nkind = "imagenet_urls"\nurls = "urls.txt"\n'
                                         'lemmas = "words.txt"\n[build]\nworkers = 1\n')
    build(tmp_path / "build.toml", tmp_path / "out")
    mapped = source_classes(tmp_path / "out")
    assert mapped["n99999999"][0] == "n02099601" and mapped["n99999999"][1].startswith("name:")
    assert mapped["n02084071"] == ("n02084071", "wnid")
