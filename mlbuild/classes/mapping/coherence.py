"""Joint disambiguation: the senses chosen for the other names of a list are evidence for each name.

The classes of one list (or the tags of one image, or the names of one source) share a domain:
beside `keyboard`, `laptop` and `remote`, `mouse` is the device; beside `hamster` the rodent. A
first pass maps every name alone; `ListContext` then counts, weighted by score, the lexnames and
the specific ancestors (those with at least `MIN_ANCESTOR_DEPTH` ancestors of their own, below
the generic top of the graph) of the chosen synsets. In the second pass each candidate of a name
is weighed by how much more often than in the visual vocabulary (ImageNet-21k) the other names
fall under its lexname and under its best ancestor (the *lift*, smoothed towards 1 by
`SMOOTHING` pseudo-names and capped at `MAX_LIFT`); the name's own first choice is left out.
When most names of the list start in lower case, case is informative: a capitalized name then
prefers capitalized lemmas (`Cardigan` the corgi, not the sweater).
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from mlbuild.classes.mapping.lexicon import Lexicon

MIN_ANCESTOR_DEPTH = 6
SMOOTHING = 2.0           # pseudo-names distributed as the visual vocabulary
MAX_LIFT = 8.0
LEXNAME_POWER, ANCESTOR_POWER = 0.75, 0.75


@dataclass(frozen=True)
class ListContext:
    """Score-weighted counts of the lexnames and specific ancestors of a list's chosen synsets."""

    lexnames: Counter
    ancestors: Counter
    total: float
    cased: bool = False    # most names start in lower case, so a capital means a proper name (`Cardigan`)

    @classmethod
    def of(cls, lex: Lexicon, chosen: Iterable[tuple[int, float]], cased: bool = False) -> ListContext:
        """Counts over (row, score) pairs: the first-pass choices of the list's names."""
        lexnames: Counter = Counter()
        ancestors: Counter = Counter()
        total = 0.0
        for row, score in chosen:
            lexnames[lex.synsets[row].lexname] += score
            for a in lex.specific_lineage(row, MIN_ANCESTOR_DEPTH):
                ancestors[a] += score
            total += score
        return cls(lexnames, ancestors, total, cased)

    def factors(self, lex: Lexicon, rows: list[int], own: tuple[int, float] | None) -> np.ndarray:
        """Per candidate row, the coherence weight with the other names (own choice left out)."""
        own_row, own_score = own if own else (-1, 0.0)
        rest = self.total - own_score
        if rest <= 0:
            return np.ones(len(rows))
        base = lex.visual_shares(MIN_ANCESTOR_DEPTH)
        own_lex = lex.synsets[own_row].lexname if own_row >= 0 else ""
        own_anc = lex.specific_lineage(own_row, MIN_ANCESTOR_DEPTH) if own_row >= 0 else frozenset()
        spread = rest + SMOOTHING
        counts, shares, floor = self.ancestors.get, base.ancestors.get, base.floor

        def lift(count: float, prior: float) -> float:
            return min((count + SMOOTHING * prior) / spread / prior, MAX_LIFT)

        out = np.ones(len(rows))
        for i, row in enumerate(rows):
            name = lex.synsets[row].lexname
            by_lex = lift(self.lexnames[name] - (own_score if name == own_lex else 0.0), base.lexname(name))
            by_anc = max((min((counts(a, 0) - (own_score if a in own_anc else 0.0) + SMOOTHING * prior)
                              / spread / prior, MAX_LIFT)   # `lift`, inlined: the hot loop of a second pass
                          for a in lex.specific_lineage(row, MIN_ANCESTOR_DEPTH)
                          for prior in (shares(a, floor),)), default=1.0)
            out[i] = by_lex ** LEXNAME_POWER * max(by_anc, 1.0) ** ANCESTOR_POWER
        return out
