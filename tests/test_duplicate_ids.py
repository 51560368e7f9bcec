"""Duplicate image ids within one source: found exactly (against a dict reference), merged into the first row."""
from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from hypothesis import given, settings
from hypothesis import strategies as st

from mlbuild.labels.joins import duplicate_rows
from mlbuild.pipeline import build


def reference(ids: list[str]) -> tuple[list[int], list[int]]:
    """Slow and obvious: each repeat's row and the row of the id's first occurrence."""
    first: dict[str, int] = {}
    rows, firsts = [], []
    for row, value in enumerate(ids):
        if value in first:
            rows.append(row)
            firsts.append(first[value])
        else:
            first[value] = row
    return rows, firsts


ID_FORMS = st.one_of(st.integers(0, 40).map(lambda i: f"{i:016x}"),                 # hex keys
                     st.tuples(st.integers(0, 3), st.integers(0, 12)).map(            # two-number keys, incl.
                         lambda t: f"n0000000{t[0]}_{'0' * (t[1] % 2)}{t[1]}"),      # equal numbers, other text
                     st.text("ab", max_size=3))                                       # anything else: hashed


@settings(max_examples=200, deadline=None)
@given(st.lists(ID_FORMS, max_size=40), st.sampled_from([0, 1, 2]))
def test_duplicate_rows_match_the_reference(ids: list[str], form: int) -> None:
    ids = [i for i in ids if (len(i) == 16, i.startswith("n0"), True)[form]] or ids
    found = duplicate_rows(pa.array(ids, pa.string()))
    rows, firsts = reference(ids)
    if not rows:
        assert found is None
    else:
        order = np.argsort(found[0])
        assert found[0][order].tolist() == rows and found[1][order].tolist() == firsts


def manifest(out) -> dict[str, list[int]]:
    table = pa.concat_tables([pq.read_table(p) for p in sorted((out / "images").rglob("part-*.parquet"))])
    return dict(zip(table.column("source_image_id").to_pylist(), table.column("direct_labels").to_pylist()))


def test_repeated_ids_merge_into_the_first_row_with_all_labels(tmp_path):
    (tmp_path / "urls.txt").write_text("n02084071_1\thttp://x/1.jpg\nn02121808_2\thttp://x/2.jpg\n"
                                       "n02084071_1\thttp://x/other.jpg\n")
    (tmp_path / "list.csv").write_text("id,url,labels\na,http://t/a.jpg,n02084071\nb,http://t/b.jpg,n02121808\n"
                                       "a,http://t/a2.jpg,n02121808\n")
    (tmp_path / "build.toml").write_text(
        '[[source]]\nkind = "imagenet_urls"\nurls = "urls.txt"\n'
        '[[source]]\nkind = "tabular"\nname = "mine"\npath = "list.csv"\nid_column = "id"\nurl_column = "url"\n'
        'labels_column = "labels"\nlabel_kind = "wnid"\n[labels]\ncollapse_duplicates = false\n'
        '[build]\nworkers = 1\n')
    build(tmp_path / "build.toml", tmp_path / "out")
    classes = pq.read_table(tmp_path / "out" / "classes.parquet").column("wnid").to_pylist()
    dog, cat = classes.index("n02084071"), classes.index("n02121808")
    rows = manifest(tmp_path / "out")
    assert sorted(rows) == ["a", "b", "n02084071_1", "n02121808_2"]
    assert rows["n02084071_1"] == [dog] and rows["a"] == sorted([dog, cat])   # labels of both rows
    record = json.loads((tmp_path / "out" / "build.json").read_text())
    assert record["counts"]["sources"]["imagenet21k"]["duplicate_image_ids"] == 1
    assert record["counts"]["sources"]["mine"]["duplicate_image_ids"] == 1
    assert any("mine: 1 images repeat an earlier image id" in w and "['a']" in w for w in record["warnings"])
    urls = pa.concat_tables([pq.read_table(p) for p in (tmp_path / "out" / "images").rglob("part-*.parquet")])
    kept = dict(zip(urls.column("source_image_id").to_pylist(), urls.column("url").to_pylist()))
    assert kept["n02084071_1"] == "http://x/1.jpg" and kept["a"] == "http://t/a.jpg"   # the first row's columns
