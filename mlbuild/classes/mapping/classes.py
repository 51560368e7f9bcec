"""Map a source's whole class list: names, then its own hierarchy as evidence, then reviewed overrides.

The first pass maps every name alone (with its description, if the list has one), the second
with the senses chosen for the whole list as coherence evidence (see `coherence`). Classes in
the source hierarchy are then mapped again, parents before children, with evidence from their neighbours: the
synsets of the nearest mapped is-a parents, of part-of wholes, and of the mapped
is-a children (so `Drink` over `Beer`, `Wine`, `Juice` means the beverage, not a
serving). Overrides are fixed from the start, so a corrected parent already
informs its children.
"""
from __future__ import annotations

from collections import defaultdict, deque
from collections.abc import Iterable, Sequence
from dataclasses import replace

from mlbuild.classes.mapping import text
from mlbuild.classes.mapping.names import Context, Mapping, NameMapper
from mlbuild.classes.mapping.tables import Override
from mlbuild.classes.wordnet import WordNet

HIERARCHY_ROUNDS = 2


def map_classes(mapper: NameMapper, ids: Sequence[str], names: Sequence[str],
                edges: Iterable[tuple[str, str, str]] = (),
                overrides: dict[str, Override] | None = None,
                descriptions: Sequence[str] | None = None) -> dict[str, Mapping]:
    """Class id -> mapping. Edges are (child, parent, relation) with relation 'is_a' or 'part_of';
    descriptions (one per id, '' for none) are definitions used as gloss evidence."""
    overrides = overrides or {}
    name_of = dict(zip(ids, names))
    described = dict(zip(ids, descriptions or ()))
    namespaces = mapper.namespaces_of(names)
    alone = {cid: Context(description=text.words(described.get(cid, ""))) for cid in ids}
    first = {cid: mapper.map(name, alone[cid], namespaces) for cid, name in zip(ids, names)}
    coherence = mapper.list_context(names, list(first.values()))
    result = {cid: mapper.map(name_of[cid], mapper.joined(alone[cid], coherence, m), namespaces)
              if coherence and m.runner_up else m for cid, m in first.items()}
    for cid, override in overrides.items():
        if cid in name_of:
            result[cid] = overridden(mapper.lex.wn, name_of[cid], override)
    graph = _Graph(edges)
    for _ in range(HIERARCHY_ROUNDS):
        for cid in graph.order():
            if cid in name_of and cid not in overrides:
                near = replace(graph.context(cid, result, mapper), description=alone[cid].description)
                result[cid] = mapper.map(name_of[cid], mapper.joined(near, coherence, first[cid]), namespaces)
    return result


def overridden(wn: WordNet, name: str, override: Override) -> Mapping:
    """The mapping an override dictates (score 1: a person reviewed it)."""
    if not override.wnid:
        return Mapping(name, method="override", reason="override", evidence=override.note)
    syn = wn.synset(override.wnid)
    return Mapping(name, syn.wnid, syn.name, 1.0, "override", "", override.note)


class _Graph:
    """The source hierarchy: parents by relation, is-a children, and a parents-first order."""

    def __init__(self, edges: Iterable[tuple[str, str, str]]) -> None:
        self.parents: dict[str, list[tuple[str, str]]] = defaultdict(list)
        self.children: dict[str, list[str]] = defaultdict(list)
        for child, parent, relation in edges:
            self.parents[child].append((parent, relation))
            if relation == "is_a":
                self.children[parent].append(child)

    def order(self) -> list[str]:
        """Every node, parents before children (Kahn's algorithm; ties in first-seen order)."""
        nodes = list(dict.fromkeys([*self.parents, *(p for ps in self.parents.values() for p, _ in ps)]))
        position = {n: i for i, n in enumerate(nodes)}
        waiting = {n: len({p for p, _ in self.parents.get(n, [])}) for n in nodes}
        below: dict[str, set[str]] = defaultdict(set)
        for child, ps in self.parents.items():
            for parent, _ in ps:
                below[parent].add(child)
        queue = deque(n for n in nodes if waiting[n] == 0)
        out = []
        while queue:
            node = queue.popleft()
            out.append(node)
            for child in sorted(below[node], key=position.__getitem__):
                waiting[child] -= 1
                if waiting[child] == 0:
                    queue.append(child)
        return out

    def context(self, cid: str, result: dict[str, Mapping], mapper: NameMapper) -> Context:
        """Synset rows of the nearest mapped is-a ancestors, part-of wholes and mapped is-a children."""
        def rows(ids: Iterable[str]) -> tuple[int, ...]:
            return tuple(mapper.lex.wn.row(result[c].wnid) for c in ids)

        wholes = [p for p, rel in self.parents.get(cid, []) if rel == "part_of" and _mapped(result, p)]
        children = [c for c in self.children.get(cid, []) if _mapped(result, c)]
        return Context(parents=rows(self._mapped_ancestors(cid, result)), wholes=rows(wholes),
                       children=rows(children))

    def _mapped_ancestors(self, cid: str, result: dict[str, Mapping]) -> list[str]:
        """The is-a parents that are mapped, climbing past unmapped ones."""
        found, seen = [], set()
        stack = [p for p, rel in self.parents.get(cid, []) if rel == "is_a"]
        while stack:
            parent = stack.pop()
            if parent in seen:
                continue
            seen.add(parent)
            if _mapped(result, parent):
                found.append(parent)
            else:
                stack.extend(p for p, rel in self.parents.get(parent, []) if rel == "is_a")
        return sorted(found)


def _mapped(result: dict[str, Mapping], cid: str) -> bool:
    return cid in result and result[cid].mapped
