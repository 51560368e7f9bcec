"""Map source class names and free-text tags to WordNet 3.0 synsets.

`map_names` is the one-call API (the `mlbuild map-names` command uses it);
`NameMapper` and `TagMapper` take the evidence explicitly (source hierarchy,
context words, a prior vocabulary); `map_classes` maps a whole source class list
with its hierarchy and reviewed overrides; `openimages_wnids` reads the shipped
Open Images table. See docs/mapping.md for the algorithm.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace

from mlbuild.classes.mapping.classes import map_classes
from mlbuild.classes.mapping.names import Context, Mapping, NameMapper
from mlbuild.classes.mapping.tables import openimages_wnids
from mlbuild.classes.mapping.tags import TagMapper, TagMapping

__all__ = ["Context", "Mapping", "NameMapper", "TagMapper", "TagMapping", "map_classes", "map_names",
           "openimages_wnids"]


def map_names(names: Sequence[str], tags: bool = False, vocabulary: Iterable[str] | None = None,
              min_score: float = 0.3) -> list[Mapping]:
    """One mapping per name; with `tags`, per tag: its best-scoring noun phrase (`#goldenretriever`)."""
    mapper = NameMapper(vocabulary=vocabulary, min_score=min_score)
    if not tags:
        return mapper.map_all(names)
    tag_mapper = TagMapper(mapper)
    return [_best(tag_mapper.map(tag)) for tag in names]


def _best(found: TagMapping) -> Mapping:
    """The tag's highest-scoring mapped phrase, else its first unmapped one, named by the tag."""
    if not found.mappings:
        return Mapping(found.tag, reason="no_noun")
    best = max(found.mappings, key=lambda m: (m.mapped, m.score))
    return replace(best, name=found.tag, evidence=";".join(x for x in (f"phrase={best.name}", best.evidence) if x))
