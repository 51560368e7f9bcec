"""Sampling weights, negative keep rates and co-occurrence against slow, obviously-correct references."""
from __future__ import annotations

import hashlib
import math
from collections import Counter
from itertools import combinations
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlbuild.config import BuildConfig, InputError, SourceSpec, config_from_dict
from mlbuild.manifests.statistics import class_weights, image_weights, label_pairs, negative_keep_rate
from mlbuild.pipeline import build
from mlbuild.sample import sample_config

SCHEMES = ("none", "sqrt", "inverse", "repeat_factor")
# Multi-label rows whose direct labels include ancestor/descendant pairs (dog + Chihuahua, car + racer)
# and unrelated pairs, all in the sample's vocabulary.
EXTRA_ROWS = """image_id,url,labels
m1,http://example.org/m1.jpg,n02084071 n02085620 n03797390
m2,http://example.org/m2.jpg,n02085620 n03797390 n02958343
m3,http://example.org/m3.jpg,n02958343 n04037443 n02121620
m4,http://example.org/m4.jpg,n02121620 n03797390
m5,http://example.org/m5.jpg,n02123045 n02121620 n04099429 n03063599
"""


def reference_weights(label_sets: list[list[int]], kept: list[bool], n_classes: int, scheme: str,
                      t: float) -> list[float]:
    """Per image, straight from the definition, one image and one class at a time."""
    n = sum(kept)
    count = Counter(c for labels, k in zip(label_sets, kept) if k for c in set(labels))
    weight = {}
    for c in range(n_classes):
        if count[c]:
            f = count[c] / n
            weight[c] = {"none": 1.0, "sqrt": f ** -0.5, "inverse": 1 / f,
                         "repeat_factor": max(1.0, math.sqrt(t / f))}[scheme]
    return [max([1.0] + [weight[c] for c in labels]) if k else 0.0 for labels, k in zip(label_sets, kept)]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.lists(st.integers(0, 11), max_size=6, unique=True).map(sorted), st.booleans()),
                max_size=40),
       st.sampled_from(SCHEMES), st.floats(1e-4, 1.0))
def test_sample_weights_match_the_definition(rows, scheme, t):
    label_sets, kept = [r[0] for r in rows], [r[1] for r in rows]
    n_classes = 12
    lists = pa.array(label_sets, pa.list_(pa.int32()))
    keep = np.array(kept, bool)
    flat = np.concatenate([np.array(s, np.int64) for s, k in rows if k] or [np.zeros(0, np.int64)])
    positives = np.bincount(flat, minlength=n_classes)
    got = image_weights(lists, class_weights(positives, int(keep.sum()), scheme, t), keep)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, reference_weights(label_sets, kept, n_classes, scheme, t), rtol=1e-6)


@given(st.lists(st.lists(st.integers(0, 50), max_size=7, unique=True), max_size=30))
def test_label_pairs_are_all_pairs_within_each_list(lists):
    arr = pa.array(lists, pa.list_(pa.int32()))
    a, b = label_pairs(arr.offsets.to_numpy().astype(np.int64), arr.values.to_numpy())
    assert sorted(zip(a.tolist(), b.tolist())) == sorted(p for x in lists for p in combinations(x, 2))


def test_negative_keep_rate():
    rate = negative_keep_rate(np.array([9.0, 1.0, 0.0, np.nan]), 3.0)
    np.testing.assert_allclose(rate, [1 / 3, 1.0, 1.0, np.nan])


def test_stats_section_is_validated():
    base = {"source": [{"kind": "imagenet_urls", "urls": __file__}]}  # a source whose input exists
    assert config_from_dict({**base, "stats": {"sampling": "sqrt"}}).stats.sampling == "sqrt"
    with pytest.raises(InputError, match=r"\[stats\] sampling: got 'sqrtt', allowed: .*did you mean 'sqrt'"):
        config_from_dict({**base, "stats": {"sampling": "sqrtt"}})
    with pytest.raises(InputError, match=r"\[stats\] repeat_threshold: got 2.0, must be <= 1.0"):
        config_from_dict({**base, "stats": {"repeat_threshold": 2.0}})


def multilabel_config(folder: Path, workers: int = 0) -> BuildConfig:
    """The sample plus a multi-label list, with square-root sampling."""
    (folder / "extra.csv").write_text(EXTRA_ROWS)
    config = sample_config()
    config.sources.append(SourceSpec("tabular", {"name": "extra", "path": "extra.csv", "id_column": "image_id",
                                                 "labels_column": "labels", "label_kind": "wnid", "url_column": "url",
                                                 "delimiter": " "}, base=folder))
    config.stats.sampling = "sqrt"
    config.workers = workers
    return config


@pytest.fixture(scope="module")
def multilabel_build(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("multilabel")
    return build(multilabel_config(folder), folder / "out").out_dir


def test_products_are_byte_identical_for_any_worker_count(multilabel_build, tmp_path):
    one = build(multilabel_config(tmp_path, workers=1), tmp_path / "out").out_dir
    digests = [{str(p.relative_to(out)): hashlib.sha256(p.read_bytes()).hexdigest()
                for p in sorted(out.rglob("*.parquet"))} for out in (multilabel_build, one)]
    assert digests[0] == digests[1] and "cooccurrence.parquet" in digests[0]


def ancestors(out: Path) -> dict[int, set[int]]:
    parents: dict[int, set[int]] = {}
    for edge in pq.read_table(out / "hierarchy.parquet").to_pylist():
        parents.setdefault(edge["child"], set()).add(edge["parent"])

    def up(c: int) -> set[int]:
        return set().union(*({p} | up(p) for p in parents.get(c, ())))
    return {c: up(c) for c in range(pq.read_metadata(out / "classes.parquet").num_rows)}


def test_cooccurrence_equals_a_brute_force_pair_count(multilabel_build):
    out = multilabel_build
    anc = ancestors(out)
    rows = [r for r in pq.read_table(out / "images" / "train").to_pylist() if r["dedup"] is None]
    pairs = Counter(p for r in rows for p in combinations(sorted(set(r["direct_labels"])), 2))
    related = {p for p in pairs if p[0] in anc[p[1]] or p[1] in anc[p[0]]}
    assert related, "the fixture must exercise the ancestor/descendant exclusion"
    direct = Counter(c for r in rows for c in set(r["direct_labels"]))
    table = pq.read_table(out / "cooccurrence.parquet").to_pylist()
    assert {(r["class_a"], r["class_b"]): r["count"] for r in table} == \
        {p: n for p, n in pairs.items() if p not in related}
    for r in table:
        a, b = r["class_a"], r["class_b"]
        assert a not in anc[b] and b not in anc[a]
        assert (r["images_a"], r["images_b"]) == (direct[a], direct[b])
        assert r["expected"] == pytest.approx(direct[a] * direct[b] / len(rows))
        assert r["lift"] == pytest.approx(r["count"] / r["expected"])
        assert r["pmi"] == pytest.approx(math.log2(r["lift"]))


def test_sample_weights_in_the_manifest_match_the_definition(multilabel_build):
    out = multilabel_build
    images = pq.read_table(out / "images")
    train = [r for r in images.to_pylist() if r["split"] == "train"]
    expected = reference_weights([r["labels"] for r in train], [r["dedup"] is None for r in train],
                                 pq.read_metadata(out / "classes.parquet").num_rows, "sqrt", 0.001)
    assert [r["sample_weight"] for r in train] == pytest.approx(expected)
    assert max(expected) > 1 and 0.0 in expected  # rare classes weigh more; removed images weigh nothing
    assert all(r["sample_weight"] is None for r in images.to_pylist() if r["split"] != "train")


def test_pair_counter_merges_in_bounded_buffers(monkeypatch):
    from mlbuild.manifests import statistics
    monkeypatch.setattr(statistics, "MERGE_ENTRIES", 50)
    rng = np.random.default_rng(0)
    counter, batches = statistics._Counter(), []
    for _ in range(40):
        batches.append(rng.integers(0, 300, rng.integers(0, 80)).astype(np.uint64))
        counter.add(*np.unique(batches[-1], return_counts=True))
        assert counter.buffered <= max(50, counter.merged) + 80
    keys, counts = counter.total()
    expected = Counter(np.concatenate(batches).tolist())
    assert dict(zip(keys.tolist(), counts.tolist())) == expected and counter.merged > 0


def test_a_stage_whose_parts_lack_cooccurrence_counts_is_refused(tmp_path):
    from mlbuild.errors import OutputError
    from mlbuild.manifests.writer import _require_side_parts, write_part
    lists = pa.list_(pa.int32())
    table = pa.table({"split": ["train", "train"], "labels": pa.array([[0, 1], [1]], lists),
                      "direct_labels": pa.array([[0, 1], [1]], lists), "negatives": pa.array([[], []], lists),
                      "dedup": pa.array([None, None], pa.string())})
    write_part(tmp_path, 2, 0, table, pa.table({"image_id": pa.array([], pa.string())}))
    _require_side_parts(tmp_path)
    counts = pq.read_table(tmp_path / "cooc" / "part-00000.parquet")
    assert counts.column("key").to_pylist() == [0, 1, 3] and counts.column("count").to_pylist() == [1, 1, 2]
    (tmp_path / "cooc" / "part-00000.parquet").unlink()
    with pytest.raises(OutputError, match="1 finished parts lack their cooc file"):
        _require_side_parts(tmp_path)
