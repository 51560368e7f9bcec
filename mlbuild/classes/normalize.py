"""Normalization: source classes -> WordNet 3.0 ids -> the merged class vocabulary.

Each source names classes its own way (`label_kind`): WNIDs, NLTK synset names,
Open Images MIDs (through the shipped mapping), or free names/tags (through
`mlbuild.classes.mapping`). All of them become WNIDs; the union is one `Taxonomy`
(duplicates merged by WNID, synonyms merged because they resolve to one synset),
shaped by the config's custom operations and class selection. Finally every source
class points to the classes its labels go to: itself, or its nearest kept ancestors.
"""
from __future__ import annotations

import csv
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from mlbuild._util.resources import wordnet_map
from mlbuild.classes import wordnet
from mlbuild.classes.taxonomy import Taxonomy
from mlbuild.classes.vocabulary import fixed_vocabulary
from mlbuild.config import ClassesConfig, TaxonomyConfig
from mlbuild.errors import InputError
from mlbuild.labels.propagate import Closure
from mlbuild.sources.hierarchies import read_hierarchy
from mlbuild.sources.wnids import CLASS_LISTS, class_list, read_wnid_list

OPENIMAGES_MAP = "openimages_wordnet.csv"


@dataclass
class SourceClasses:
    """The distinct class ids one source used, in first-seen order, and their WNIDs (None = unmapped)."""

    source: str
    kind: str
    ids: list[str] = field(default_factory=list)
    wnids: list[str | None] = field(default_factory=list)
    methods: list[str] = field(default_factory=list)
    scores: list[float | None] = field(default_factory=list)   # the mapper's score; 1 for ids; None = not scored

    def unmapped(self) -> list[str]:
        """Source class ids that have no WNID."""
        return [i for i, w in zip(self.ids, self.wnids) if w is None]


def map_source_classes(source: str, kind: str, ids: list[str], class_map: Path | None = None,
                       names: dict[str, str] | None = None,
                       edges: list[tuple[str, str, str]] = ()) -> SourceClasses:
    """WNIDs for a source's class ids: by a given class map, else by the source's label kind.

    An id the map or kind does not know (absent from the class map or the shipped MID table,
    a WNID or synset not in WordNet 3.0) is mapped by its display name from `names` (the
    source's descriptions or lemmas), with the source's `edges` as evidence (method `name:...`).
    A class map's or the MID table's blank `wnid` stays unmapped: that is a reviewed decision.
    """
    wn = wordnet.load()
    out = SourceClasses(source, kind, list(ids))
    scores: list[float | None] = [1.0] * len(ids)
    if class_map is not None:
        table = read_class_map(str(class_map))
        pairs = [(table.get(i), "class_map") for i in ids]
        known = [i in table for i in ids]
        scores = [None] * len(ids)
    elif kind == "wnid":
        pairs = [(i if wn.has(i) and i.startswith("n") else None, "wnid") for i in ids]
        known = [w is not None for w, _ in pairs]
    elif kind == "synset":
        pairs = [(wn.synset(i).wnid if wn.has(i) else None, "synset_name") for i in ids]
        known = [w is not None for w, _ in pairs]
    elif kind == "mid":
        table = read_class_map(str(wordnet_map(OPENIMAGES_MAP)))
        pairs = [(table.get(i), "openimages_map") for i in ids]
        known = [i in table for i in ids]
        shipped = read_map_scores(str(wordnet_map(OPENIMAGES_MAP)))
        scores = [shipped.get(i) for i in ids]
    elif kind in ("name", "tag"):
        from mlbuild.classes.mapping import map_names
        mappings = map_names(ids, tags=kind == "tag")
        pairs, scores = [(m.wnid, m.method) for m in mappings], [m.score for m in mappings]
        known = [True] * len(ids)
    else:
        raise InputError(source, f"unknown label kind {kind!r}", field="label_kind")
    pairs, scores = _by_name(ids, pairs, scores, known, names or {}, edges)
    out.wnids = [w or None for w, _ in pairs]
    out.methods = [m if w else "unmapped" for w, m in pairs]
    out.scores = scores
    return out


def _by_name(ids: list[str], pairs: list[tuple], scores: list[float | None], known: list[bool],
             names: dict[str, str], edges: list[tuple[str, str, str]]) -> tuple[list[tuple], list[float | None]]:
    """(pairs, scores) with the unknown ids that have a display name mapped by that name (and the source's edges)."""
    todo = [i for i, k in zip(ids, known) if not k and names.get(i)]
    if not todo:
        return pairs, scores
    from mlbuild.classes.mapping import NameMapper, map_classes
    found = map_classes(NameMapper(), todo, [names[i] for i in todo], edges)
    return ([(found[i].wnid, f"name:{found[i].method}") if i in found else p for i, p in zip(ids, pairs)],
            [found[i].score if i in found else sc for i, sc in zip(ids, scores)])


@lru_cache(maxsize=4)
def read_class_map(path: str) -> dict[str, str]:
    """Source class -> WNID from a CSV with `mid` (or `source_class`) and `wnid`; blank wnid ("") = unmapped."""
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            names = set(reader.fieldnames or [])
            key = "mid" if "mid" in names else "source_class"
            if not {key, "wnid"} <= names:
                raise InputError(path, "a class map needs `mid` or `source_class`, and `wnid` columns", line=1)
            return {row[key]: row["wnid"] or "" for row in reader}
    except OSError as err:
        raise InputError(path, f"cannot read the class map: {err.strerror}") from None
    except UnicodeDecodeError:
        raise InputError(path, "the class map is not UTF-8 text") from None


@lru_cache(maxsize=1)
def read_map_scores(path: str) -> dict[str, float]:
    """MID -> the shipped mapping's score (its `score` column)."""
    with open(path, newline="", encoding="utf-8") as fh:
        return {row["mid"]: float(row["score"]) for row in csv.DictReader(fh) if row.get("score")}


def build_taxonomy(all_classes: list[SourceClasses], config: TaxonomyConfig,
                   vocabulary: Path | None = None) -> Taxonomy:
    """The merged vocabulary of every mapped source class, with the config's custom operations.

    A published hierarchy gives the parents; a fixed vocabulary (the `vocabulary` file, else the
    hierarchy's classes) is applied after merge and drop, before rename and add_parent.
    """
    tax = Taxonomy(relations=config.relations, tree=config.tree)
    if config.hierarchy is not None:
        tax.use_hierarchy(read_hierarchy(config.hierarchy, config.hierarchy_format or ""))
    fixed = fixed_vocabulary(vocabulary, tax.hierarchy)
    dropped = sorted(set(config.drop) & set(fixed[0])) if fixed is not None else []
    if dropped:
        raise InputError(vocabulary or config.hierarchy or "<config>",
                         f"[taxonomy] drop removes vocabulary classes {dropped[:5]}", field="drop")
    for classes in all_classes:
        pairs = [(wnid, f"{classes.source}:{sid}") for sid, wnid in zip(classes.ids, classes.wnids) if wnid]
        tax.add_all([w for w, _ in pairs], source_ids=[s for _, s in pairs])
    for op in config.merge:
        tax.merge(op["from"], into=op["into"])
    if config.drop:
        tax.drop(*config.drop)
    if fixed is not None:
        tax.fix_vocabulary(*fixed)
    for op in config.rename:
        tax.rename(op["wnid"], op["name"])
    for op in config.add_parent:
        tax.add_parent(op["child"], op["parent"])
    return tax


def select_classes(tax: Taxonomy, config: ClassesConfig, protected: set[str] = frozenset()) -> None:
    """Apply include / exclude lists: classes outside them are dropped (labels move up)."""
    drop: set[str] = set()
    if config.include:
        keep = {w for spec in config.include for w in _wnids(spec, config.lists_dir)} | protected
        drop |= {w for w in tax.classes if w not in keep}
    drop |= {w for spec in config.exclude for w in _wnids(spec, config.lists_dir) if w in tax.classes}
    if drop:
        tax.drop(*sorted(drop))


def _wnids(spec: str | Path, lists_dir: Path | None) -> list[str]:
    """A WNID, a named class list (from lists_dir), or the WNIDs of a list file."""
    if isinstance(spec, str) and spec.startswith("n") and spec[1:].isdigit():
        return [spec]
    if isinstance(spec, str) and spec in CLASS_LISTS:
        return class_list(spec, lists_dir).to_pylist()
    try:
        return read_wnid_list(Path(spec), strict=False).to_pylist()
    except OSError as err:
        raise InputError(spec, f"cannot read the class list: {err.strerror}", field="include/exclude") from None


def class_targets(tax: Taxonomy, classes: SourceClasses) -> Closure:
    """CSR: source class code -> the class indices its labels go to (empty when unmapped)."""
    index = tax.dag.index
    rows = [sorted(index[w] for w in tax.nearest(wnid)) if wnid else [] for wnid in classes.wnids]
    return Closure.from_lists(rows)


def remap(wnids_before: list[str], tax: Taxonomy) -> Closure:
    """CSR: class index before a selection -> class indices after it (nearest kept classes)."""
    index = tax.dag.index
    return Closure.from_lists([sorted(index[w] for w in tax.nearest(wnid)) for wnid in wnids_before])
