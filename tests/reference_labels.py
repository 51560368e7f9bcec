"""A slow, obviously-correct reference of mlbuild's label semantics (docs/manifests.md), on Python sets.

Nothing here is shared with the columnar build: graphs are dicts of parent sets, labels are
tuples, every rule is a set expression. Tests compare the build against it.
"""
from __future__ import annotations

from dataclasses import dataclass, field


def closure_above(parents: dict[int, set[int]]) -> dict[int, set[int]]:
    """Strict ancestors of every node of a DAG given by parent sets."""
    memo: dict[int, set[int]] = {}

    def above(node: int) -> set[int]:
        if node not in memo:
            memo[node] = set().union(*({p} | above(p) for p in parents.get(node, ())))
        return memo[node]
    return {node: above(node) for node in parents}


def positive_targets(node: int, kept: set[int], above: dict[int, set[int]]) -> set[int]:
    """A positive of node goes to node when kept, else to its nearest kept ancestors."""
    if node in kept:
        return {node}
    candidates = kept & above[node]
    return {c for c in candidates if not any(c in above[o] for o in candidates)}


def negative_targets(node: int, kept: set[int], above: dict[int, set[int]]) -> set[int]:
    """A verified negative of node goes to node when kept, else to every kept descendant (none: dropped)."""
    if node in kept:
        return {node}
    return {k for k in kept if node in above[k]}


@dataclass(frozen=True)
class Label:
    """One direct label row: class, confidence, verified negative or positive, machine or human, source."""

    cls: int
    conf: float = 1.0
    negative: bool = False
    machine: bool = False
    src: int = 0


@dataclass
class Expected:
    """One image's outputs."""

    labels: dict[int, float] = field(default_factory=dict)       # class -> max confidence
    provenance: dict[int, int] = field(default_factory=dict)     # 0 direct-human, 1 direct-machine, 2 implied
    sources: dict[int, int] = field(default_factory=dict)        # class -> source bitmask
    direct: set[int] = field(default_factory=set)
    negatives: set[int] = field(default_factory=set)
    conflicts: set[int] = field(default_factory=set)
    removed: int = 0                                             # machine positives removed (classes)
    beaten: int = 0                                              # negatives a positive beat (classes)


def mapped(labels: list[Label], kept: set[int], above: dict[int, set[int]]) -> list[Label]:
    """Every label moved to the classes it goes to in the kept vocabulary."""
    out = []
    for label in labels:
        targets = negative_targets if label.negative else positive_targets
        out += [Label(t, label.conf, label.negative, label.machine, label.src)
                for t in targets(label.cls, kept, above)]
    return out


def expected_image(labels: list[Label], above: dict[int, set[int]], policy: str = "human_first") -> Expected:
    """One image's labels (already on kept classes; `above` over kept classes) under the trust order."""
    below = {c: {d for d in above if c in above[d]} | {c} for c in above}
    implied_negative = set().union(*(below[x.cls] for x in labels if x.negative))
    positives = [x for x in labels if not x.negative]
    removed = set()
    if policy == "human_first":
        removed = {x.cls for x in positives if x.machine and x.cls in implied_negative}
        positives = [x for x in positives if not (x.machine and x.cls in implied_negative)]
    out = Expected(direct={x.cls for x in positives}, removed=len(removed))
    for x in positives:
        for a in above[x.cls] | {x.cls}:
            out.labels[a] = max(out.labels.get(a, 0.0), x.conf)
            out.provenance[a] = min(out.provenance.get(a, 2), int(x.machine) if a == x.cls else 2)
            out.sources[a] = out.sources.get(a, 0) | 1 << x.src
    beaten = implied_negative & set(out.labels)
    out.beaten, out.conflicts = len(beaten), removed | beaten
    out.negatives = implied_negative - set(out.labels)
    return out
