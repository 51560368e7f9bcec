"""The class vocabulary and its DAG: WordNet classes merged, reduced and customizable.

A `Taxonomy` holds a set of WordNet 3.0 synsets as classes. The same WNID from
several sources is one class that remembers every source id. Parents of a class
are its nearest ancestors inside the vocabulary under the chosen WordNet
relations (the transitive reduction of those relations restricted to the
vocabulary), so no ancestor relation WordNet implies is lost. Users script custom
operations (merge, drop, rename, add a parent edge); the DAG is recomputed from
WordNet plus those operations, so their order never leaves a stale edge.

Three options reshape it (docs/taxonomy.md): a fixed vocabulary (`fix_vocabulary`: exactly
these classes, in this order), a published hierarchy (`use_hierarchy`: its parent edges replace
WordNet's for the classes it names), and `tree` (one parent per class, by `single_parents`).
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import pyarrow as pa

from mlbuild._util.arrays import csr_owners, transpose_csr
from mlbuild.classes import wordnet as wordnet_module
from mlbuild.classes.wordnet import WordNet
from mlbuild.errors import TaxonomyError, UnknownClassError
from mlbuild.sources.hierarchies import PublishedHierarchy

DEFAULT_RELATIONS = ("hypernym", "instance_hypernym")
# Weakest link names an edge that crosses several relations (and custom edges are weakest).
EDGE_KINDS = ("published", "hypernym", "instance_hypernym", "member_holonym", "substance_holonym", "part_holonym",
              "custom")

CLASSES_SCHEMA = pa.schema([
    pa.field("class_index", pa.int32(), nullable=False), pa.field("wnid", pa.string(), nullable=False),
    pa.field("name", pa.string()), pa.field("lemmas", pa.list_(pa.string())),
    pa.field("gloss", pa.string()), pa.field("parents", pa.list_(pa.int32())),
    pa.field("depth", pa.int32()), pa.field("sources", pa.list_(pa.string())),
])
HIERARCHY_SCHEMA = pa.schema([
    pa.field("child", pa.int32(), nullable=False), pa.field("parent", pa.int32(), nullable=False),
    pa.field("relation", pa.string(), nullable=False), pa.field("child_wnid", pa.string()),
    pa.field("parent_wnid", pa.string()),
])


@dataclass
class ClassInfo:
    """One class: its synset, display name, lemmas, gloss and every source id merged into it."""

    wnid: str
    name: str
    lemmas: list[str]
    gloss: str
    sources: set[str] = field(default_factory=set)


@dataclass(frozen=True)
class Dag:
    """The computed class DAG over classes sorted by WNID (index = class_index)."""

    wnids: list[str]
    parents: list[dict[int, str]]          # class -> {parent class: relation}
    order: list[int]                       # topological order, parents first
    nearest: _NearestMembers             # WordNet row -> nearest classes above it

    @cached_property
    def index(self) -> dict[str, int]:
        return {w: i for i, w in enumerate(self.wnids)}

    @cached_property
    def ancestors(self) -> list[frozenset[int]]:
        anc: list[frozenset[int]] = [frozenset()] * len(self.wnids)
        for c in self.order:
            anc[c] = frozenset().union(*(anc[p] | {p} for p in self.parents[c]))
        return anc

    @cached_property
    def depth(self) -> list[int]:
        depth = [0] * len(self.wnids)
        for c in self.order:
            depth[c] = max((depth[p] + 1 for p in self.parents[c]), default=0)
        return depth


class Taxonomy:
    """A WordNet class vocabulary with a reduced DAG and scriptable custom operations."""

    def __init__(self, wordnet: WordNet | None = None,
                 relations: Iterable[str] = DEFAULT_RELATIONS, tree: bool = False) -> None:
        self.wordnet = wordnet or wordnet_module.load()
        self.relations = tuple(relations)
        unknown = set(self.relations) - set(wordnet_module.RELATIONS)
        if unknown:
            raise TaxonomyError(f"unknown relations {sorted(unknown)}; choose from {wordnet_module.RELATIONS}")
        self.classes: dict[str, ClassInfo] = {}
        self.aliases: dict[str, str] = {}          # merged-away WNID -> the class it now belongs to
        self.custom_edges: set[tuple[str, str]] = set()
        self.tree = tree                                   # one parent per class (`single_parents`)
        self.order: list[str] | None = None                # fixed class order; None = sorted WNIDs
        self.hierarchy: PublishedHierarchy | None = None   # published parent edges, if any
        self._graph: dict[str, tuple[np.ndarray, np.ndarray]] | None = None
        self._dag: Dag | None = None

    @classmethod
    def from_wnids(cls, wnids: Iterable[str], source: str | None = None,
                   relations: Iterable[str] = DEFAULT_RELATIONS,
                   wordnet: WordNet | None = None) -> Taxonomy:
        """A taxonomy of the given WNIDs; with source, each remembers `source:wnid`."""
        tax = cls(wordnet, relations)
        tax.add_all(wnids, source)
        return tax

    # -- building the vocabulary ------------------------------------------------------------
    def add(self, wnid: str, source_id: str | None = None) -> str:
        """Add a class (or merge into the existing one); returns the WNID that now holds it."""
        self.add_all([wnid], source_ids=[source_id] if source_id else None)
        return self.resolve(wnid)

    def add_all(self, wnids: Iterable[str], source: str | None = None,
                source_ids: list[str] | None = None) -> None:
        """Add many classes; each remembers `source:wnid` or its given source id. Unknown WNIDs fail together."""
        wn = self.wordnet
        keys = list(wnids)
        unknown = [w for w in keys if not wn.has(w)]
        if unknown:
            raise UnknownClassError(f"{len(unknown)} WNIDs are not WordNet 3.0 nouns: {unknown[:10]}")
        rows = [wn.row(key) for key in keys]
        wnids = [wn.wnid(r) for r in rows]
        new = sorted({w for w in wnids if w not in self.aliases and w not in self.classes})
        if new:
            for syn in wn.synsets([wn.row(w) for w in new]):
                self.classes[syn.wnid] = ClassInfo(syn.wnid, syn.label,
                                                   [lem.replace("_", " ") for lem in syn.lemmas], syn.gloss)
        ids = source_ids if source_ids is not None else [f"{source}:{w}" for w in wnids] if source else []
        for wnid, source_id in zip(wnids, ids):
            self.classes[self._alias(wnid)].sources.add(source_id)
        self._dag = None

    def resolve(self, key: str) -> str:
        """The class WNID a WNID (or merged-away WNID, or synset name) now belongs to."""
        wnid = self.wordnet.synset(key).wnid if not key.startswith("n") or "." in key else key
        while wnid in self.aliases:
            wnid = self.aliases[wnid]
        if wnid not in self.classes:
            raise UnknownClassError(f"{key} is not a class of this taxonomy")
        return wnid

    # -- custom operations --------------------------------------------------------------------
    def merge(self, source: str, into: str) -> None:
        """Merge class `source` into class `into`: one class with both lemmas, sources and edges."""
        a, b = self.resolve(source), self._require(into)
        if a == b:
            return
        with self._rollback():
            info = self.classes.pop(a)
            self.classes[b].sources |= info.sources
            self.classes[b].lemmas += [lem for lem in info.lemmas if lem not in self.classes[b].lemmas]
            self.aliases[a] = b
            self.custom_edges = {(self._alias(c), self._alias(p)) for c, p in self.custom_edges}
            self.custom_edges = {(c, p) for c, p in self.custom_edges if c != p}

    def drop(self, *wnids: str) -> None:
        """Remove classes; their children re-attach to their nearest kept ancestors.

        Custom edges that touch a dropped class stay in the relation graph (`relation_graph`), so
        its labels and its children still follow them: a class added under it gets its negatives,
        a class added above it gets its positives and becomes a parent of its children.
        """
        targets = {self._require(w) for w in wnids}
        for target in targets:
            del self.classes[target]
        self._dag = None

    def nearest(self, wnid: str) -> list[str]:
        """Where labels of a WNID go: its class, or else its nearest ancestors inside the vocabulary."""
        target = self._alias(wnid if wnid in self.classes else self.wordnet.synset(wnid).wnid)
        if target in self.classes:
            return [target]
        dag = self.dag
        found = dag.nearest.above(self.wordnet.row(target))
        return sorted(dag.wnids[c] for c in found if not any(c in dag.ancestors[o] for o in found))

    def below(self, wnid: str) -> list[str]:
        """Where verified negatives of a WNID go: its class when that class stands for the same concept
        (itself, or a class it was merged into that is not its ancestor), else the topmost classes below it.

        A negative says nothing about ancestors, so a class that left the vocabulary (dropped, or merged
        into an ancestor) passes its negatives down only; with no class below it they are dropped.
        """
        dag, members = self.dag, self._members_below()
        row = self.wordnet.row(wnid)
        if row in members.member:
            return [dag.wnids[members.member[row]]]
        found = members.below(row)
        return sorted(dag.wnids[c] for c in found if not any(o in dag.ancestors[c] for o in found))

    def _members_below(self) -> _MembersBelow:
        """The negative-side view of the vocabulary's WordNet rows, cached with the DAG."""
        dag = self.dag
        if getattr(self, "_below", None) is None or self._below[0] is not dag:
            wn, index = self.wordnet, dag.index
            member = {wn.row(w): index[w] for w in dag.wnids}
            for alias in self.aliases:
                target = self._alias(alias)
                if target in index and wn.row(target) not in wn.ancestors(wn.row(alias), self.relations):
                    member[wn.row(alias)] = index[target]
            self._below = (dag, _MembersBelow(self.relation_graph(), member))
        return self._below[1]

    def rename(self, wnid: str, name: str) -> None:
        """Give a class another display name."""
        self.classes[self._require(wnid)].name = name

    def use_hierarchy(self, hierarchy: PublishedHierarchy) -> None:
        """Take parents from a published hierarchy: its edges replace WordNet's relations for every WNID
        it names; WNIDs outside it still climb WordNet's relations (until they reach one of its classes)."""
        missing = [w for w in hierarchy.wnids if not self.wordnet.has(w)]
        if missing:
            raise UnknownClassError(f"{hierarchy.path}: {len(missing)} WNIDs are not WordNet 3.0 nouns: "
                                    f"{missing[:10]}")
        self.hierarchy, self._graph, self._dag = hierarchy, None, None

    def fix_vocabulary(self, wnids: list[str], names: list[str | None] | None = None) -> None:
        """Make the classes exactly `wnids`, with class_index = position in the list.

        Listed WNIDs no source labels are added (hierarchy-only classes); other classes are
        dropped like `drop` does (their labels go to their nearest kept ancestors). A name
        given for a WNID becomes its display name.
        """
        merged = [w for w in wnids if w in self.aliases]
        if merged:
            raise TaxonomyError(f"vocabulary WNIDs {merged[:5]} were merged into other classes "
                                f"({[self._alias(w) for w in merged[:5]]}): list those instead")
        self.add_all(wnids)
        keep = set(wnids)
        others = sorted(w for w in self.classes if w not in keep)
        if others:
            self.drop(*others)
        self.order = list(wnids)
        for wnid, name in zip(wnids, names or []):
            if name:
                self.rename(wnid, name)
        self._dag = None

    def relation_graph(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """The parent relations over WordNet rows as CSR arrays: WordNet's chosen relations, or with
        a published hierarchy, its edges (relation "published") for its WNIDs and WordNet's for the rest;
        plus the custom edges (relation "custom"), also those of classes that left the vocabulary."""
        if self._graph is None:
            wn = self.wordnet
            graph = {rel: wn.relation(rel) for rel in self.relations}
            if self.hierarchy is not None:
                inside = np.zeros(len(wn.offsets), bool)
                inside[[wn.row(w) for w in self.hierarchy.wnids]] = True
                graph = {rel: _without_rows(csr, inside) for rel, csr in graph.items()}
                graph = {"published": self._edges_csr(self.hierarchy.edges), **graph}
            self._graph = graph
        if not self.custom_edges:
            return self._graph
        return {**self._graph, "custom": self._edges_csr(sorted(self.custom_edges))}

    def _edges_csr(self, edges: Iterable[tuple[str, str]]) -> tuple[np.ndarray, np.ndarray]:
        """(child WNID, parent WNID) pairs as a CSR relation over WordNet rows."""
        wn, pairs = self.wordnet, list(edges)
        child = np.array([wn.row(c) for c, _ in pairs], np.int64)
        parent = np.array([wn.row(p) for _, p in pairs], np.int64)
        return _csr(child, parent, len(wn.offsets))

    def add_parent(self, child: str, parent: str) -> None:
        """Add a custom parent edge; refused if it would make a cycle."""
        c, p = self._require(child), self._require(parent)
        if c == p or c in self.ancestors(p):
            raise TaxonomyError(f"edge {c} -> {p} would make a cycle ({p} is below {c})")
        with self._rollback():
            self.custom_edges.add((c, p))

    def _require(self, key: str) -> str:
        try:
            return self.resolve(key)
        except UnknownClassError as err:
            raise TaxonomyError(f"{key} is not a class of this taxonomy") from err

    def _alias(self, wnid: str) -> str:
        while wnid in self.aliases:
            wnid = self.aliases[wnid]
        return wnid

    def _rollback(self) -> _Rollback:
        return _Rollback(self)

    # -- queries --------------------------------------------------------------------------------
    @property
    def dag(self) -> Dag:
        """The current DAG (recomputed after any change)."""
        if self._dag is None:
            self._dag = _compute_dag(self)
        return self._dag

    def wnids(self) -> list[str]:
        """Class WNIDs in class_index order (sorted, or the fixed vocabulary's order)."""
        return self.dag.wnids

    def parents(self, wnid: str) -> list[str]:
        """Nearest ancestors of a class inside the vocabulary."""
        dag = self.dag
        return sorted(dag.wnids[p] for p in dag.parents[dag.index[self.resolve(wnid)]])

    def ancestors(self, wnid: str) -> set[str]:
        """Every class above a class."""
        dag = self.dag
        return {dag.wnids[a] for a in dag.ancestors[dag.index[self.resolve(wnid)]]}

    def descendants(self, wnid: str) -> set[str]:
        """Every class below a class."""
        dag, target = self.dag, self.dag.index[self.resolve(wnid)]
        return {dag.wnids[c] for c, anc in enumerate(dag.ancestors) if target in anc}

    def children(self, wnid: str) -> list[str]:
        """Classes whose parents include this class."""
        dag, target = self.dag, self.dag.index[self.resolve(wnid)]
        return sorted(dag.wnids[c] for c, ps in enumerate(dag.parents) if target in ps)

    def depth(self, wnid: str) -> int:
        """Length of the longest parent chain above a class (roots are 0)."""
        return self.dag.depth[self.dag.index[self.resolve(wnid)]]

    def roots(self) -> list[str]:
        """Classes without parents."""
        return [w for w, ps in zip(self.dag.wnids, self.dag.parents) if not ps]

    def to_tables(self) -> tuple[pa.Table, pa.Table]:
        """(classes, hierarchy) as Arrow tables in the manifest schemas."""
        dag = self.dag
        infos = [self.classes[w] for w in dag.wnids]
        classes = pa.table({
            "class_index": pa.array(range(len(infos)), pa.int32()), "wnid": dag.wnids,
            "name": [c.name for c in infos], "lemmas": [c.lemmas for c in infos],
            "gloss": [c.gloss for c in infos], "parents": [sorted(ps) for ps in dag.parents],
            "depth": pa.array(dag.depth, pa.int32()), "sources": [sorted(c.sources) for c in infos],
        }, schema=CLASSES_SCHEMA)
        edges = sorted((c, p, rel) for c, ps in enumerate(dag.parents) for p, rel in ps.items())
        hierarchy = pa.table({
            "child": pa.array([e[0] for e in edges], pa.int32()),
            "parent": pa.array([e[1] for e in edges], pa.int32()),
            "relation": [e[2] for e in edges], "child_wnid": [dag.wnids[e[0]] for e in edges],
            "parent_wnid": [dag.wnids[e[1]] for e in edges],
        }, schema=HIERARCHY_SCHEMA)
        return classes, hierarchy


class _Rollback:
    """Snapshot the mutable state; on an error inside the block, restore it and re-raise."""

    def __init__(self, tax: Taxonomy) -> None:
        self.tax = tax

    def __enter__(self) -> None:
        t = self.tax
        self.saved = ({k: ClassInfo(v.wnid, v.name, list(v.lemmas), v.gloss, set(v.sources))
                       for k, v in t.classes.items()}, dict(t.aliases), set(t.custom_edges), t._dag)

    def __exit__(self, exc_type, exc, tb) -> None:
        t = self.tax
        t._dag = None
        if exc_type is None:
            try:
                _ = t.dag  # validate now, so the failing operation is the one that reports
                return
            except TaxonomyError:
                t.classes, t.aliases, t.custom_edges, t._dag = self.saved
                raise
        t.classes, t.aliases, t.custom_edges, t._dag = self.saved


def _compute_dag(tax: Taxonomy) -> Dag:
    """Nearest vocabulary ancestors under the chosen relations, plus custom edges, reduced."""
    wn, wnids = tax.wordnet, _ordered(tax)
    index = {w: i for i, w in enumerate(wnids)}
    member = {wn.row(w): index[tax._alias(w)] for w in [*wnids, *tax.aliases]
              if tax._alias(w) in index}
    nearest = _NearestMembers(tax.relation_graph(), member)
    candidates: list[dict[int, str]] = [{} for _ in wnids]
    for row, cls in member.items():
        for parent, rel in nearest.above(row).items():
            if parent != cls:
                _keep_strongest(candidates[cls], parent, rel)
    for child, parent in tax.custom_edges:
        if child in index and parent in index:
            candidates[index[child]][index[parent]] = "custom"
    order = _topological_order(candidates, wnids)
    dag = _reduce(Dag(wnids, candidates, order, nearest))
    return _as_tree(dag) if tax.tree else dag


def _ordered(tax: Taxonomy) -> list[str]:
    """Class WNIDs in class_index order: the fixed order's classes first, any others sorted after."""
    if tax.order is None:
        return sorted(tax.classes)
    listed = [w for w in tax.order if w in tax.classes]
    return listed + sorted(set(tax.classes) - set(listed))


def single_parents(parents: list[dict[int, str]], wnids: list[str]) -> list[int]:
    """One parent per class (-1 for a root), chosen parents-first by a deterministic rule.

    Among a class's parents, keep the one with the most ancestors in the tree built so far (so
    the class keeps as many of its ancestors as one parent allows); ties go to the strongest
    relation (EDGE_KINDS order), then to the smallest WNID.
    """
    chosen, size = [-1] * len(parents), [0] * len(parents)
    for c in _topological_order(parents, wnids):
        ps = parents[c]
        if ps:
            p = min(ps, key=lambda q: (-size[q], EDGE_KINDS.index(ps[q]), wnids[q]))
            chosen[c], size[c] = p, size[p] + 1
    return chosen


def _as_tree(dag: Dag) -> Dag:
    """The DAG reduced to one parent per class (`single_parents`)."""
    chosen = single_parents(dag.parents, dag.wnids)
    parents = [{p: dag.parents[c][p]} if p >= 0 else {} for c, p in enumerate(chosen)]
    return Dag(dag.wnids, parents, dag.order, dag.nearest)


def _csr(rows: np.ndarray, targets: np.ndarray, n_rows: int) -> tuple[np.ndarray, np.ndarray]:
    """CSR arrays of (row -> target) pairs, targets of a row in the given order."""
    order = np.argsort(rows, kind="stable")
    indptr = np.zeros(n_rows + 1, np.int64)
    np.cumsum(np.bincount(rows, minlength=n_rows), out=indptr[1:])
    return indptr, targets[order].astype(np.int64)


def _without_rows(csr: tuple[np.ndarray, np.ndarray], drop: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The CSR relation with the rows where `drop` is True emptied."""
    indptr, targets = csr
    owner = csr_owners(indptr)
    return _csr(owner[~drop[owner]], np.asarray(targets)[~drop[owner]], len(indptr) - 1)


class _NearestMembers:
    """For WordNet rows: the nearest member classes above them, with the weakest relation on the path."""

    def __init__(self, graph: dict[str, tuple[np.ndarray, np.ndarray]], member: dict[int, int]) -> None:
        self.csr = graph
        self.member = member
        self.memo: dict[int, dict[int, str]] = {}

    def above(self, row: int) -> dict[int, str]:
        if row in self.memo:
            return self.memo[row]
        found: dict[int, str] = {}
        for rel, (indptr, targets) in self.csr.items():
            for parent in targets[indptr[row]:indptr[row + 1]].tolist():
                if parent in self.member:
                    _keep_strongest(found, self.member[parent], rel)
                else:
                    for cls, via in self.above(parent).items():
                        _keep_strongest(found, cls, max(rel, via, key=EDGE_KINDS.index))
        self.memo[row] = found
        return found


class _MembersBelow:
    """For WordNet rows: the topmost member classes below them (following the relations downwards)."""

    def __init__(self, graph: dict[str, tuple[np.ndarray, np.ndarray]], member: dict[int, int]) -> None:
        self.csr = [transpose_csr(*csr) for csr in graph.values()]
        self.member = member
        self.memo: dict[int, frozenset[int]] = {}

    def below(self, row: int) -> frozenset[int]:
        if row not in self.memo:
            found: set[int] = set()
            for indptr, children in self.csr:
                for child in children[indptr[row]:indptr[row + 1]].tolist():
                    found |= {self.member[child]} if child in self.member else self.below(child)
            self.memo[row] = frozenset(found)
        return self.memo[row]


def _keep_strongest(edges: dict[int, str], parent: int, rel: str) -> None:
    if parent not in edges or EDGE_KINDS.index(rel) < EDGE_KINDS.index(edges[parent]):
        edges[parent] = rel


def _topological_order(parents: list[dict[int, str]], wnids: list[str]) -> list[int]:
    """Parents-first order (Kahn); a cycle is a TaxonomyError naming its classes."""
    pending = [len(ps) for ps in parents]
    children: list[list[int]] = [[] for _ in parents]
    for c, ps in enumerate(parents):
        for p in ps:
            children[p].append(c)
    order = [c for c, n in enumerate(pending) if n == 0]
    for c in order:
        for child in children[c]:
            pending[child] -= 1
            if pending[child] == 0:
                order.append(child)
    if len(order) < len(parents):
        stuck = sorted(wnids[c] for c, n in enumerate(pending) if n)
        raise TaxonomyError(f"the class graph has a cycle through {len(stuck)} classes: {stuck[:10]}")
    return order


def _reduce(dag: Dag) -> Dag:
    """Drop parent edges implied by another parent (transitive reduction)."""
    anc = dag.ancestors
    reduced = [{p: rel for p, rel in ps.items() if not any(p in anc[q] for q in ps if q != p)}
               for ps in dag.parents]
    return Dag(dag.wnids, reduced, dag.order, dag.nearest)
