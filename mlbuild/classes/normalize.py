"""Normalization: source classes -> WordNet 3.0 ids -> the merged class vocabulary.

Each source names classes its own way (`label_kind`): WNIDs, NLTK synset names,
Open Images MIDs (through the shipped mapping), or free names/tags (through
`mlbuild.classes.mapping`). All of them become WNIDs; the union is one `Taxonomy`
(duplicates merged by WNID, synonyms merged because they resolve to one synset),
shaped by the config's custom operations and class selection. Finally every source
class points to the classes its labels go to: itself, or for positives its nearest kept
ancestors and for verified negatives its topmost kept descendants (docs/manifests.md).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from mlbuild._util.arrays import unique_inverse
from mlbuild._util.memory import paused_gc
from mlbuild._util.resources import wordnet_map
from mlbuild.classes import wordnet
from mlbuild.classes.closure import Closure
from mlbuild.classes.mapping.tables import OPENIMAGES_TABLE, openimages_scores, read_class_map, read_descriptions
from mlbuild.classes.taxonomy import Taxonomy
from mlbuild.classes.vocabulary import fixed_vocabulary
from mlbuild.config import ClassesConfig, TaxonomyConfig
from mlbuild.errors import InputError
from mlbuild.sources.hierarchies import read_hierarchy
from mlbuild.sources.wnids import CLASS_LISTS, class_list, read_wnid_list


@dataclass
class SourceClasses:
    """The distinct class ids one source used, in first-seen order, their WNIDs (None = unmapped) and how
    each was found: method, score, the runner-up sense and its score (for review), and the further
    concepts of a multi-concept tag (`#dogsandcats`: dog, then cat in `also`)."""

    source: str
    kind: str
    ids: list[str] = field(default_factory=list)
    wnids: list[str | None] = field(default_factory=list)
    methods: list[str] = field(default_factory=list)
    scores: list[float | None] = field(default_factory=list)   # the mapper's score; 1 for ids; None = not scored
    runner_ups: list[str | None] = field(default_factory=list)
    runner_up_scores: list[float] = field(default_factory=list)
    also: list[tuple[str, ...]] = field(default_factory=list)
    images: list[int] = field(default_factory=list)   # images carrying each class (name and tag sources)
    words: list[tuple[str, ...]] = field(default_factory=list)   # the words each tag was read as (tag sources)

    def unmapped(self) -> list[str]:
        """Source class ids that have no WNID."""
        return [i for i, w in zip(self.ids, self.wnids) if w is None]

    def targets(self, i: int) -> list[str]:
        """Every WNID source class i stands for (its WNID and the further concepts of a tag)."""
        return [w for w in (self.wnids[i], *(self.also[i] if self.also else ())) if w]

    def all_targets(self) -> list[list[str]]:
        """`targets(i)` of every source class, in order: the input of `label_targets`."""
        return [self.targets(i) for i in range(len(self.ids))]

    def add_runner_ups(self, codes: list[int]) -> None:
        """Append, for each class code, the class taking its runner-up sense (method `image_context`):
        same id, answer and runner-up swapped."""
        for i in codes:
            self.ids.append(self.ids[i])
            self.wnids.append(self.runner_ups[i])
            self.methods.append("image_context")
            self.scores.append(self.runner_up_scores[i])
            self.runner_ups.append(self.wnids[i])
            self.runner_up_scores.append(self.scores[i] or 0.0)
            if self.also:
                self.also.append(self.also[i])
            if self.words:
                self.words.append(self.words[i])


def map_source_classes(source: str, kind: str, ids: list[str], class_map: Path | None = None,
                       descriptions: Path | None = None, names: dict[str, str] | None = None,
                       edges: list[tuple[str, str, str]] = ()) -> SourceClasses:
    """WNIDs for a source's class ids: by a given class map, else by the source's label kind (names
    with their descriptions, from a CSV with `source_class` and `description` columns, if given).

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
        table = read_class_map(str(wordnet_map(OPENIMAGES_TABLE)))
        pairs = [(table.get(i), "openimages_map") for i in ids]
        known = [i in table for i in ids]
        shipped = openimages_scores()
        scores = [shipped.get(i) for i in ids]
    elif kind in ("name", "tag"):
        return _mapped_names(out, ids, kind, read_descriptions(descriptions) if descriptions else None)
    else:
        raise InputError(source, f"unknown label kind {kind!r}", field="label_kind")
    pairs, scores = _by_name(ids, pairs, scores, known, names or {}, edges)
    out.wnids = [w or None for w, _ in pairs]
    out.methods = [m if w else "unmapped" for w, m in pairs]
    out.scores = scores
    out.runner_ups, out.runner_up_scores = [None] * len(ids), [0.0] * len(ids)
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



def _mapped_names(out: SourceClasses, ids: list[str], kind: str, described: dict[str, str] | None) -> SourceClasses:
    """Names or tags mapped as one list (jointly disambiguated), with scores and runner-ups (the
    cyclic GC paused, see `mlbuild._util.memory`)."""
    with paused_gc():
        return _mapped(out, ids, kind, described)


def _mapped(out: SourceClasses, ids: list[str], kind: str, described: dict[str, str] | None) -> SourceClasses:
    from mlbuild.classes.mapping import NameMapper, TagMapper, concepts, map_classes

    mapper = NameMapper()
    if kind == "tag":
        tagged = TagMapper(mapper).map_all(ids)
        found = [concepts(t) for t in tagged]
        out.words = [t.words for t in tagged]
    elif described:
        by_id = map_classes(mapper, ids, ids, descriptions=[described.get(i, "") for i in ids])
        found = [[by_id[i]] for i in ids]
    else:
        found = [[m] for m in mapper.map_all(ids)]
    best = [f[0] for f in found]
    out.wnids = [m.wnid or None for m in best]
    out.methods = [m.method if m.mapped else "unmapped" for m in best]
    out.scores = [m.score for m in best]
    out.runner_ups = [m.runner_up or None for m in best]
    out.runner_up_scores = [m.runner_up_score for m in best]
    out.also = [tuple(m.wnid for m in f[1:] if m.mapped) for f in found]
    return out


def with_image_context(classes: SourceClasses, image_row: np.ndarray, class_code: np.ndarray) -> np.ndarray:
    """The class code of every label row of a name or tag source, with the images each class is on
    (`classes.images`). For tags, an image's other tags are context (`mapping.image_context`):
    where they switch an ambiguous tag to its runner-up sense, the row gets the code of a class
    added for that (`add_runner_ups`). Columnar over the distinct (image, class) pairs."""
    n = max(len(classes.ids), 1)
    pairs, inverse = unique_inverse(image_row.astype(np.int64) * n + class_code)
    code = pairs % n
    if classes.kind == "tag" and len(pairs):
        switch = _switched(classes, pairs // n, code)
        flipped = np.unique(code[switch])
        new = np.zeros(n, np.int64)
        new[flipped] = len(classes.ids) + np.arange(len(flipped))
        code = np.where(switch, new[code], code)
        classes.add_runner_ups(flipped.tolist())
    classes.images = np.bincount(code, minlength=len(classes.ids)).tolist()
    return code[inverse.ravel()].astype(np.int32)


def _switched(classes: SourceClasses, image: np.ndarray, code: np.ndarray) -> np.ndarray:
    """Per distinct (image, tag) pair (sorted by image): True where the image's other tags switch the tag
    to its runner-up sense."""
    from mlbuild.classes.mapping import image_context
    from mlbuild.classes.mapping.lexicon import Lexicon

    senses = image_context.tag_senses(Lexicon.shared(), classes.wnids, classes.scores, classes.runner_ups,
                                      classes.runner_up_scores, classes.words or [()] * len(classes.ids))
    if not senses.ambiguous.any():
        return np.zeros(len(code), bool)
    terms = image_context.pair_terms(image_context.features(Lexicon.shared(), senses))
    return image_context.switched(senses, terms, image, code)


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
        pairs = [(wnid, f"{classes.source}:{sid}") for i, sid in enumerate(classes.ids) for wnid in classes.targets(i)]
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
    """Apply include / exclude lists: classes outside them are dropped (see `label_targets`)."""
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


def label_targets(tax: Taxonomy, targets: list[list[str]]) -> Closure:
    """CSR over 2 * len(targets) codes: code i -> the class indices positives of source class i go to
    (targets[i]: the WNIDs it stands for, none when unmapped, several for a multi-concept tag),
    code len(targets) + i -> those its verified negatives go to.

    Positives go to the class itself or its nearest kept ancestors (`Taxonomy.nearest`),
    negatives to the class itself or its topmost kept descendants (`Taxonomy.below`).
    """
    index = tax.dag.index
    distinct = {wnid for wnids in targets for wnid in wnids}  # source classes share WNIDs: look each up once
    nearest = {wnid: [index[w] for w in tax.nearest(wnid)] for wnid in distinct}
    below = {wnid: [index[w] for w in tax.below(wnid)] for wnid in distinct}
    up = [sorted({c for wnid in wnids for c in nearest[wnid]}) for wnids in targets]
    down = [sorted({c for wnid in wnids for c in below[wnid]}) for wnids in targets]
    return Closure.from_lists(up + down)
