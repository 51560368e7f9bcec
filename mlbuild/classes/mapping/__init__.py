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

__all__ = ["Context", "Mapping", "NameMapper", "TagMapper", "TagMapping", "concepts", "map_classes", "map_names",
           "openimages_wnids"]


def map_names(names: Sequence[str], tags: bool = False, vocabulary: Iterable[str] | None = None,
              min_score: float = 0.3, descriptions: Sequence[str] | None = None) -> list[Mapping]:
    """One mapping per name, the list disambiguated as a whole; with `tags`, per tag: its
    best-scoring concept (`concepts` gives all of them). Descriptions are gloss evidence."""
    mapper = NameMapper(vocabulary=vocabulary, min_score=min_score)
    if tags:
        return [concepts(found)[0] for found in TagMapper(mapper).map_all(names)]
    if descriptions is None:
        return mapper.map_all(names)
    found = map_classes(mapper, [str(i) for i in range(len(names))], names, descriptions=descriptions)
    return [found[str(i)] for i in range(len(names))]


def concepts(found: TagMapping) -> list[Mapping]:
    """The mapped concepts of a tag, best first (`#dogsandcats`: dog, cat), named by the tag;
    its first unmapped phrase when none is mapped."""
    if not found.mappings:
        return [Mapping(found.tag, reason="no_noun")]
    mapped = [m for m in found.mappings if m.mapped] or [found.mappings[0]]
    return [replace(m, name=found.tag, evidence=";".join(x for x in (f"phrase={m.name}", m.evidence) if x))
            for m in sorted(mapped, key=lambda m: -m.score)]
