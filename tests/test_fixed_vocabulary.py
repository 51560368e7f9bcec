"""Fixed vocabularies, published hierarchies and the single-parent tree, in builds and in `mlbuild vocab`."""
from __future__ import annotations

from pathlib import Path

import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from mlbuild.classes import wordnet
from mlbuild.classes.normalize import build_taxonomy
from mlbuild.classes.taxonomy import Taxonomy
from mlbuild.classes.vocabulary import build_vocabulary
from mlbuild.cli import main
from mlbuild.config import config_from_dict
from mlbuild.errors import InputError
from mlbuild.pipeline import build
from mlbuild.sources.hierarchies import read_hierarchy

PUG, DOG, CAT, BIRD, ENTITY, DALMATIAN = "n02110958", "n02084071", "n02121620", "n01503061", "n00001740", "n02110341"
PERSON, ORGANISM, CAUSAL_AGENT = "n00007846", "n00004475", "n00007347"


def tabular_build(tmp_path: Path, labels: dict[str, str], **sections: dict) -> Path:
    """A build of one CSV source (image -> WNID labels) with extra config sections."""
    rows = "".join(f"{image},http://x/{image}.jpg,{wnids}\n" for image, wnids in labels.items())
    (tmp_path / "list.csv").write_text("image_id,url,labels\n" + rows)
    source = {"kind": "tabular", "path": "list.csv", "name": "mine", "id_column": "image_id",
              "url_column": "url", "labels_column": "labels", "label_kind": "wnid", "delimiter": " "}
    config = config_from_dict({"source": [source], "build": {"workers": 1}, **sections}, base=tmp_path)
    return build(config, tmp_path / "out").out_dir


def image_labels(out: Path) -> dict[str, list[str]]:
    wnids = pq.read_table(out / "classes.parquet").column("wnid").to_pylist()
    rows = ds.dataset(out / "images").to_table().to_pylist()
    return {r["source_image_id"]: sorted(wnids[c] for c in r["labels"]) for r in rows}


def nearest_in(vocabulary: set[str], wnid: str) -> set[str]:
    """Slow reference: the vocabulary classes met first on every upward WordNet path from wnid."""
    wn = wordnet.load()
    found, stack, seen = set(), [wn.row(wnid)], set()
    while stack:
        row = stack.pop()
        for parent in wn.related(row, "hypernym") + wn.related(row, "instance_hypernym"):
            if wn.wnid(parent) in vocabulary:
                found.add(wn.wnid(parent))
            elif parent not in seen:
                seen.add(parent)
                stack.append(parent)
    return found


def test_vocabulary_fixes_classes_order_and_names_and_moves_other_labels(tmp_path):
    (tmp_path / "vocab.txt").write_text(f"{CAT}\tkitty\n{ENTITY}\n{DOG}\tdoggy\n")
    out = tabular_build(tmp_path, {"a": PUG, "b": f"{CAT} {BIRD}", "c": DOG},
                        classes={"vocabulary": "vocab.txt"})
    classes = pq.read_table(out / "classes.parquet").to_pylist()
    assert [c["wnid"] for c in classes] == [CAT, ENTITY, DOG]            # line order, not sorted
    assert [c["name"] for c in classes] == ["kitty", "entity", "doggy"]
    assert classes[1]["sources"] == [] and classes[1]["parents"] == []     # hierarchy-only class
    assert nearest_in({CAT, ENTITY, DOG}, PUG) == {DOG} and nearest_in({CAT, ENTITY, DOG}, BIRD) == {ENTITY}
    assert image_labels(out) == {"a": [ENTITY, DOG], "b": [ENTITY, CAT], "c": [ENTITY, DOG]}


def test_published_hierarchy_gives_vocabulary_parents_and_places_outside_wnids(fixtures, tmp_path):
    dictionary = fixtures / "sources" / "tencent" / "dictionary_and_semantic_hierarchy.txt"
    published = read_hierarchy(dictionary, "tencent")
    out = tabular_build(tmp_path, {"a": DALMATIAN, "b": PUG},
                        taxonomy={"hierarchy": str(dictionary), "hierarchy_format": "tencent"})
    classes = pq.read_table(out / "classes.parquet").to_pylist()
    assert [c["wnid"] for c in classes] == published.wnids
    parents = published.parents()
    assert all([classes[p]["wnid"] for p in c["parents"]] == parents[c["wnid"]] for c in classes)
    # A dalmatian is not in the hierarchy: it goes to its nearest class by WordNet, then up the published tree.
    living_thing, animal = "n00004258", "n00015388"
    assert image_labels(out)["a"] == sorted([ENTITY, living_thing, animal, DOG])
    assert {r["relation"] for r in pq.read_table(out / "hierarchy.parquet").to_pylist()} == {"published"}


def test_tree_keeps_the_parent_with_most_ancestors_then_smallest_wnid(tmp_path):
    (tmp_path / "v.txt").write_text(f"{ENTITY}\n{ORGANISM}\n{CAUSAL_AGENT}\n{PERSON}\n")
    dag = build_vocabulary([], vocabulary=tmp_path / "v.txt")
    assert dag.parents(PERSON) == [ORGANISM, CAUSAL_AGENT]
    assert main(["vocab", "--vocabulary", str(tmp_path / "v.txt"), "--tree", "--out", str(tmp_path / "o")]) == 0
    classes = pq.read_table(tmp_path / "o" / "classes.parquet").to_pylist()
    assert [c["wnid"] for c in classes] == [ENTITY, ORGANISM, CAUSAL_AGENT, PERSON]
    assert classes[3]["parents"] == [1]     # a tie (one ancestor each): the smaller WNID


def check_tree(wnids: list[str]) -> tuple[int, int]:
    """The tree rule against a slow reference on the DAG; returns (DAG, tree) ancestor relation counts."""
    dag, tree = Taxonomy.from_wnids(wnids), Taxonomy.from_wnids(wnids)
    tree.tree = True
    anc_tree: dict[str, set[str]] = {}
    for c in [dag.dag.wnids[i] for i in dag.dag.order]:
        kept = tree.parents(c)
        assert len(kept) <= 1 and set(kept) <= set(dag.parents(c))
        anc_tree[c] = set().union(*({p} | anc_tree[p] for p in kept))
        assert anc_tree[c] == tree.ancestors(c) <= dag.ancestors(c)
        if kept:
            best = max(len(anc_tree[p]) for p in dag.parents(c))
            assert len(anc_tree[kept[0]]) == best
            assert kept[0] == min(p for p in dag.parents(c) if len(anc_tree[p]) == best)
    return sum(len(dag.ancestors(c)) for c in wnids), sum(len(a) for a in anc_tree.values())


def test_tree_rule_on_imagenet21k(shared_data):
    wnids = (shared_data / "imagenet21k" / "imagenet22k_synsets.txt").read_text().split()
    in_dag, in_tree = check_tree(wnids)
    assert in_tree < in_dag   # docs/taxonomy.md reports the figures


def test_imagenet21k_vocabulary_in_published_orders(shared_data):
    for name, size in (("imagenet22k_synsets.txt", 21_841), ("imagenet22k_ms_synsets.txt", 21_842)):
        path = shared_data / "imagenet21k" / name
        config = config_from_dict({"source": [{"kind": "imagenet_urls", "urls": __file__}],
                                   "classes": {"vocabulary": str(path)}})
        tax = build_taxonomy([], config.taxonomy, config.classes.vocabulary)
        lines = path.read_text().split()
        assert len(lines) == size and tax.wnids() == lines
        classes, _ = tax.to_tables()
        assert classes.column("class_index").to_pylist() == list(range(size))


def test_wordtree_and_is_a_hierarchies_in_vocab(shared_data, tmp_path):
    tree = shared_data / "wordtree" / "9k.tree"
    args = ["vocab", "--hierarchy", str(tree), "--hierarchy-format", "wordtree", "--out", str(tmp_path / "w")]
    assert main(args) == 0
    published = read_hierarchy(tree, "wordtree")
    classes = pq.read_table(tmp_path / "w" / "classes.parquet").to_pylist()
    assert [c["wnid"] for c in classes] == published.wnids and classes[2]["name"] == "object"
    parents = published.parents()
    assert all([classes[p]["wnid"] for p in c["parents"]] == parents[c["wnid"]] for c in classes)
    is_a = read_hierarchy(shared_data / "imagenet" / "is_a.txt", "is_a")
    tax = build_vocabulary([], hierarchy=(is_a.path, "is_a"))
    dag, edges = tax.dag, set(is_a.edges)
    kept = {(dag.wnids[c], dag.wnids[p]) for c, ps in enumerate(dag.parents) for p in ps}
    assert kept <= edges and dag.wnids == is_a.wnids
    assert all(dag.index[p] in dag.ancestors[dag.index[c]] for c, p in edges)  # dropped edges are implied


def test_conflicting_settings_are_config_errors(tmp_path):
    base = {"source": [{"kind": "imagenet_urls", "urls": __file__}]}
    with pytest.raises(InputError, match="min_images cannot change a fixed vocabulary"):
        config_from_dict({**base, "classes": {"vocabulary": "v.txt", "min_images": 5}})
    with pytest.raises(InputError, match="needs hierarchy_format"):
        config_from_dict({**base, "taxonomy": {"hierarchy": "h.txt"}})
    with pytest.raises(InputError, match="hierarchy_format: got 'yolo', allowed: 'tencent'"):
        config_from_dict({**base, "taxonomy": {"hierarchy": "h.txt", "hierarchy_format": "yolo"}})
    (tmp_path / "v.txt").write_text(f"{DOG}\n{CAT}\n{DOG}\n")
    with pytest.raises(InputError, match=r"v.txt:3: field 'wnid': the list repeats"):
        tabular_build(tmp_path, {"a": DOG}, classes={"vocabulary": "v.txt"})
    (tmp_path / "v.txt").write_text(f"{DOG}\n{CAT}\n")
    with pytest.raises(InputError, match="drop removes vocabulary classes"):
        tabular_build(tmp_path, {"a": DOG}, classes={"vocabulary": "v.txt"}, taxonomy={"drop": [CAT]})
