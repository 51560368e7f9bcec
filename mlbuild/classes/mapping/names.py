"""Map class names to WordNet 3.0 synsets: candidate senses, weighed evidence, one decision.

A name's candidates are the noun senses of its lemma (exact, then noun morphology,
then separator variants; a compound falls back to its head noun, see
`compounds`). Each candidate gets a weight, the product of independent evidence:

- sense prior: WordNet sense rank and SemCor tag count of the matched lemma;
- lexname prior: concrete, picturable kinds (animal, artifact, plant, food, ...) over abstract ones;
- proper nouns (instance synsets) weigh less, and so do capitalized lemmas (`RAM`) for a
  head word written in lower case;
- a prior vocabulary of visual WNIDs (e.g. ImageNet-21k): members, then their ancestors, weigh more;
  a member known to have many images weighs more again when the name is its head (first) lemma:
  its images show what that lemma names, not necessarily what a secondary lemma names (`Napkin`
  is a lemma of diaper, whose ImageNet images are diapers);
- the qualifier of `Bat (Animal)`: matched against the candidate's and its ancestors'
  lemmas, its lexname and its gloss;
- the source hierarchy: a candidate under the mapped parent class (or above the mapped
  children) wins; one under the parent's own hypernym gets part of that weight;
- context words (other tags of an image, or a compound's modifiers when it maps to its head
  noun) shared with the candidate's gloss and lemmas, or with the glosses of their first senses.

The score is the winner's share of the total weight times the confidence of the
lookup tier; below `min_score` the name stays unmapped (`ambiguous_low_score`).
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from functools import lru_cache

import numpy as np

from mlbuild._util.arrays import float_sum
from mlbuild._util.memory import paused_gc
from mlbuild.classes.mapping import text
from mlbuild.classes.mapping.coherence import ListContext
from mlbuild.classes.mapping.compounds import Head, head_noun, namespace_prefixes, specific_hyponyms
from mlbuild.classes.mapping.lexicon import ALL_RELATIONS, IS_A, Candidate, Lexicon
from mlbuild.classes.mapping.tables import read_equivalents

LEXNAME_PRIOR = {
    "noun.animal": 1.0, "noun.artifact": 1.0, "noun.plant": 1.0, "noun.food": 1.0,
    "noun.object": 0.9, "noun.body": 0.9, "noun.person": 0.9, "noun.substance": 0.7,
    "noun.location": 0.6, "noun.act": 0.5, "noun.event": 0.5, "noun.phenomenon": 0.5,
    "noun.shape": 0.5, "noun.group": 0.4, "noun.attribute": 0.4, "noun.communication": 0.4,
    "noun.Tops": 0.3, "noun.possession": 0.3, "noun.state": 0.3, "noun.process": 0.3,
    "noun.feeling": 0.3, "noun.quantity": 0.2, "noun.time": 0.2, "noun.cognition": 0.2,
    "noun.relation": 0.2, "noun.motive": 0.2,
}
TIER_CONFIDENCE = {"exact_lemma": 1.0, "morphology": 0.95, "variant": 0.9, "equivalent": 0.9, "specific_hyponym": 0.8,
                   "head_noun": 0.6}
COMPOUND_TIERS = ("specific_hyponym", "head_noun")
# Qualifier match strength -> weight: 0 none, 1 gloss word or related kind, 2 word of an ancestor's
# lemma or the lexname, 3 an ancestor's lemma, 4 the qualifier's first sense is an ancestor.
QUALIFIER_WEIGHT = (0.0, 3.0, 10.0, 30.0, 60.0)
# A candidate of the qualifier's kind: the most is-a ancestors in common with the qualifier, and at
# least 6 (`Propeller (Aircraft)`: instrumentality and above).
MIN_SHARED_ANCESTORS = 6
PARENT_WEIGHT, WHOLE_WEIGHT, CHILDREN_WEIGHT = 20.0, 8.0, 19.0
NEAR_PARENT_WEIGHT = 5.0      # under the parent's own hypernym: WordNet files `bus` beside `vehicle`
VOCAB_WEIGHT, VOCAB_ANCESTOR_WEIGHT = 4.0, 1.3
FREQUENT_WEIGHT = 3.0          # a visual synset known to have 500+ images, named by its head lemma
INSTANCE_WEIGHT, PROPER_CASE_WEIGHT = 0.5, 0.5
CONTEXT_WEIGHT, MAX_CONTEXT_OVERLAP = 0.5, 3   # per shared context stem: a tie-breaker, not a veto
COMPOUND_CONTEXT_WEIGHT = 20.0    # a context word and the name form a lemma below this sense
DESCRIPTION_WEIGHT, MAX_DESCRIPTION_OVERLAP = 2.0, 5   # per stem a given definition shares with the gloss
CONJUNCTIONS = frozenset({"and", "or"})
HEAD_LEMMA_WEIGHT = 4.0        # the name is the synset's first (head) lemma: its most usual name
PLANT_BESIDE_FOOD_WEIGHT = 0.1
PLANT_WORDS = frozenset({"tree", "trees", "plant", "plants", "bush", "shrub", "vine", "flower", "flowers"})


@lru_cache(maxsize=1)
def shipped_equivalents() -> dict[str, str]:
    """The shipped multiword equivalents table (`wordnet_maps/multiword_equivalents.csv`), read once."""
    return read_equivalents()


@dataclass(frozen=True)
class Context:
    """Evidence about a name from outside it: mapped source neighbours (rows) and context words."""

    parents: tuple[int, ...] = ()
    wholes: tuple[int, ...] = ()
    children: tuple[int, ...] = ()
    words: tuple[str, ...] = ()
    description: tuple[str, ...] = ()         # words of a definition given with the name (gloss evidence)
    coherence: ListContext | None = None
    own: tuple[int, float] | None = None     # this name's first-pass choice, left out of `coherence`


@dataclass(frozen=True)
class Mapping:
    """The answer for one name: wnid/synset blank when unmapped, then `reason` says why."""

    name: str
    wnid: str = ""
    synset: str = ""
    score: float = 0.0
    method: str = ""
    reason: str = ""
    evidence: str = ""
    runner_up: str = ""            # WNID of the second-best candidate ('' when there was one candidate)
    runner_up_score: float = 0.0

    @property
    def mapped(self) -> bool:
        """True when a synset was chosen."""
        return bool(self.wnid)

    @property
    def margin(self) -> float:
        """Score of the answer minus that of the runner-up (the answer's score when there is none)."""
        return round(self.score - self.runner_up_score, 3)


@dataclass(frozen=True)
class _Weighed:
    """Candidates with their total weights and the qualifier / hierarchy parts that decide the method."""

    candidates: tuple[Candidate, ...]
    weights: np.ndarray
    qualifier: np.ndarray
    hierarchy: np.ndarray


class NameMapper:
    """Maps names to synsets with the evidence above; build once, reuse for many names."""

    def __init__(self, lexicon: Lexicon | None = None, vocabulary: Iterable[str] | None = None,
                 min_score: float = 0.3, namespaces: Iterable[str] = (),
                 equivalents: dict[str, str] | None = None) -> None:
        """`vocabulary`: WNIDs of visual classes; None = the shipped ImageNet-21k list, () = no prior.
        `equivalents`: reviewed multiword names -> WNID (`tables.read_equivalents`; None = the shipped table)."""
        self.lex = lexicon or Lexicon.shared()
        self.equivalents = shipped_equivalents() if equivalents is None else equivalents
        self.min_score = min_score
        self.namespaces = frozenset(namespaces)
        self._frequent = None
        self._specific_cache: dict[tuple[tuple[int, ...], frozenset[str]], tuple[Candidate, ...]] = {}
        self._alone = lru_cache(maxsize=100_000)(self._weigh_alone)
        if vocabulary is None:
            self._vocab, self._vocab_above, self._frequent = self.lex.visual_masks
        else:
            self._vocab, self._vocab_above = self.lex.vocabulary_masks([self.lex.wn.row(w) for w in vocabulary])

    def map(self, name: str, context: Context | None = None, namespaces: frozenset[str] | None = None) -> Mapping:
        """The mapping of one name; namespaces default to the mapper's own (see `namespaces_of`)."""
        parsed = text.parse_name(name)
        if not parsed.base:
            return Mapping(name, reason="empty")
        context = context or Context()
        candidates = self.lex.candidates(tuple(text.surface_keys(parsed.base_text)))
        if candidates:
            return self._decide(name, "lemma", self._weigh(candidates, parsed, context), "")
        if "_".join(parsed.base) in self.equivalents:
            return self._equivalent(name, self.equivalents["_".join(parsed.base)])
        if self._lists_classes(parsed):
            return Mapping(name, reason="conjunction")
        head = head_noun(self.lex, parsed.base, self.namespaces if namespaces is None else namespaces)
        if head is None:
            return Mapping(name, reason=self._no_lemma_reason(parsed))
        if not head.candidates:
            return Mapping(name, reason=head.refused, evidence=f"head={head.phrase}")
        return self._map_head(name, parsed, head, context)

    def _equivalent(self, name: str, wnid: str) -> Mapping:
        """The reviewed answer of the equivalents table (a blank WNID keeps the name unmapped)."""
        if not wnid:
            return Mapping(name, reason="reviewed_unmapped", evidence="table=equivalents")
        syn = self.lex.synsets[self.lex.wn.row(wnid)]
        return Mapping(name, wnid, syn.name, TIER_CONFIDENCE["equivalent"], "equivalent", "", "table=equivalents")

    def _map_head(self, name: str, parsed: text.ParsedName, head: Head, context: Context) -> Mapping:
        """Decide among the head noun's senses, with the compound's modifiers as context words."""
        own = tuple(head.phrase.split())
        modifiers = tuple(w for w in parsed.base if w not in own and w not in text.STOP_WORDS)
        weighed = self._weigh(head.candidates, parsed, replace(context, words=context.words + modifiers), own)
        likeliest = [head.candidates[i].row for i in np.argsort(-weighed.weights, kind="stable")]
        written = tuple(w for w in parsed.base if w not in own)   # `Off-road vehicle`: `off` changes the sense
        specific = specific_hyponyms(self.lex, likeliest, written, self._vocab, self._specific_cache)
        if specific:  # `Bicycle helmet`: the helmet whose gloss names bicycles, before any helmet
            return self._decide(name, "specific_hyponym", self._weigh(specific, parsed, context, own),
                                f"head={head.phrase}")
        return self._decide(name, "head_noun", weighed, f"head={head.phrase}")

    def map_all(self, names: Sequence[str], contexts: Sequence[Context | None] | None = None) -> list[Mapping]:
        """Map a list; namespace prefixes (`Ford ...`) are learnt from the list itself."""
        with paused_gc():
            return self._map_all(names, contexts)

    def _map_all(self, names: Sequence[str], contexts: Sequence[Context | None] | None) -> list[Mapping]:
        namespaces = self.namespaces_of(names)
        contexts = [c or Context() for c in contexts] if contexts else [Context()] * len(names)
        first = [self.map(n, c, namespaces) for n, c in zip(names, contexts)]
        coherence = self.list_context(names, first)
        return [self.map(n, self.joined(c, coherence, m), namespaces) if coherence and m.runner_up else m
                for n, c, m in zip(names, contexts, first)]

    def list_context(self, names: Sequence[str], first: Sequence[Mapping]) -> ListContext | None:
        """The evidence a list's first-pass answers give about each of its names (None if none mapped)."""
        cased = sum(n[:1].islower() for n in names) * 2 > len(names)
        chosen = [(self.lex.wn.row(m.wnid), m.score) for m in first if m.mapped]
        return ListContext.of(self.lex, chosen, cased) if chosen else None

    def joined(self, context: Context | None, coherence: ListContext | None, first: Mapping) -> Context:
        """The context plus the list's coherence evidence, this name's own first answer left out."""
        own = (self.lex.wn.row(first.wnid), first.score) if first.mapped else None
        return replace(context or Context(), coherence=coherence, own=own)

    def namespaces_of(self, names: Sequence[str]) -> frozenset[str]:
        """The mapper's namespace prefixes if it was given some, else those of this list."""
        return self.namespaces or namespace_prefixes(self.lex, (text.parse_name(n) for n in names))

    def _lists_classes(self, parsed: text.ParsedName) -> bool:
        """True for a list of classes (`Moths and butterflies`), not `Salt and pepper shakers`.

        A plural noun before the conjunction means the name coordinates whole classes,
        so its head noun stands for only one of them.
        """
        tokens = parsed.base
        return any(word in CONJUNCTIONS and i > 0 and self._plural(tokens[i - 1])
                   for i, word in enumerate(tokens))

    def _plural(self, word: str) -> bool:
        keys = self.lex.noun_keys
        return word not in keys and any(f in keys for f in self.lex.noun_forms(word)[1:])

    def _no_lemma_reason(self, parsed: text.ParsedName) -> str:
        content = [w for w in parsed.base if w not in text.STOP_WORDS]
        if content and all(self.lex.is_word(w) and not self.lex.candidates((w,)) for w in content):
            return "not_a_noun"
        return "no_lemma"

    def _weigh(self, candidates: tuple[Candidate, ...], parsed: text.ParsedName, context: Context,
               own: tuple[str, ...] = ()) -> _Weighed:
        """Every candidate's weight; `own` are the words being mapped (default: the whole base).

        The weights without the list's coherence are memoized (`_alone`): a list's second pass
        only multiplies in the coherence factors (the same products in the same order)."""
        plain = context if context.coherence is None and context.own is None else \
            replace(context, coherence=None, own=None)
        alone = self._alone(candidates, parsed, plain, own)
        if context.coherence is None or len(candidates) <= 1:
            return alone
        weights = alone.weights * context.coherence.factors(self.lex, [c.row for c in candidates], context.own)
        if context.coherence.cased and parsed.base_text[:1].isupper():
            weights *= [1.0 if c.lemma[:1].isupper() else PROPER_CASE_WEIGHT for c in candidates]
        return replace(alone, weights=weights)

    def _weigh_alone(self, candidates: tuple[Candidate, ...], parsed: text.ParsedName, context: Context,
                     own: tuple[str, ...]) -> _Weighed:
        """`_weigh` without coherence (cached per argument tuple as `_alone`)."""
        rows = [c.row for c in candidates]
        lower = _lowercase_head(parsed.base_text)
        weights = np.array([self._prior(c, lower) for c in candidates])
        if self._plant_beside_food(rows, parsed, context):
            weights *= self._fruit_over_plant(rows)
        qualifier = self._qualifier_strength(rows, parsed.qualifier)
        if qualifier.size and qualifier.max() > 0:   # a hard constraint: only the best-matching senses stay
            weights *= np.where(qualifier == qualifier.max(), np.asarray(QUALIFIER_WEIGHT)[qualifier], 0.0)
        hierarchy = self._hierarchy_weight(rows, context)
        if context.parents or context.wholes or context.children:   # else every factor is 1
            weights *= hierarchy
        if context.words:
            words = self._context_stems(context.words) - {text.stem(w) for w in own or parsed.base}
            weights *= [1.0 + CONTEXT_WEIGHT * min(len(words & self.lex.gloss_stems(r)), MAX_CONTEXT_OVERLAP)
                        for r in rows]
            weights *= self._compound_context(rows, own or parsed.base, context.words)
        if context.description:
            said = {text.stem(w) for w in context.description if w not in text.STOP_WORDS}
            weights *= [1.0 + DESCRIPTION_WEIGHT * min(len(said & self.lex.gloss_stems(r)), MAX_DESCRIPTION_OVERLAP)
                        for r in rows]
        weights.setflags(write=False)   # memoized and shared: an in-place change would alter later answers
        return _Weighed(candidates, weights, qualifier, hierarchy)

    def _prior(self, cand: Candidate, lowercase_head: bool) -> float:
        """The evidence a candidate carries by itself: sense, lexname, instance, case, visual and
        head-lemma priors (scalar products: a few candidates cost less than an array operation)."""
        row, syn = cand.row, self.lex.synsets[cand.row]
        weight = cand.prior * LEXNAME_PRIOR.get(syn.lexname, 0.3)
        weight *= INSTANCE_WEIGHT if self.lex.is_instance[row] else 1.0
        if lowercase_head:
            weight *= PROPER_CASE_WEIGHT if cand.lemma != cand.lemma.lower() else 1.0
        if self._vocab is not None and self._vocab_above is not None:
            weight *= VOCAB_WEIGHT if self._vocab[row] else VOCAB_ANCESTOR_WEIGHT if self._vocab_above[row] else 1.0
        head = syn.lemmas[0] == cand.lemma
        if self._frequent is not None:
            weight *= FREQUENT_WEIGHT if self._frequent[row] and head else 1.0
        return weight * (HEAD_LEMMA_WEIGHT if head else 1.0)

    def _compound_context(self, rows: list[int], own: tuple[str, ...], words: tuple[str, ...]) -> np.ndarray:
        """Senses above a lemma that a context word forms with the name (`#bat` beside `#baseball`:
        `baseball bat` is a lemma, under the club sense of bat) weigh COMPOUND_CONTEXT_WEIGHT more."""
        name = "_".join(own)
        compounds = [c.row for w in words for key in (f"{w}_{name}", f"{name}_{w}")
                     for c in self.lex.candidates((key,)) if c.tier == "exact_lemma"]
        if not compounds:
            return np.ones(len(rows))
        above = set(compounds).union(*(self.lex.ancestors(c) for c in compounds))
        return np.where([r in above for r in rows], COMPOUND_CONTEXT_WEIGHT, 1.0)

    def _plant_beside_food(self, rows: list[int], parsed: text.ParsedName, context: Context) -> bool:
        """True when the name has a food sense (the fruit one photographs) and neither the name, its
        qualifier nor the context words say plant or tree."""
        synsets = self.lex.synsets
        return any(synsets[r].lexname == "noun.food" for r in rows) and not (
            PLANT_WORDS.intersection(parsed.base) or PLANT_WORDS.intersection(parsed.qualifier)
            or PLANT_WORDS.intersection(context.words))

    def _fruit_over_plant(self, rows: list[int]) -> np.ndarray:
        """Per candidate: PLANT_BESIDE_FOOD_WEIGHT for the plant senses (see `_plant_beside_food`), else 1."""
        return np.array([PLANT_BESIDE_FOOD_WEIGHT if self.lex.synsets[r].lexname == "noun.plant" else 1.0
                         for r in rows])

    def _qualifier_strength(self, rows: list[int], qualifier: tuple[str, ...]) -> np.ndarray:
        """Per candidate 0..4 (see QUALIFIER_WEIGHT); empty when there is no usable qualifier."""
        content = tuple(w for w in qualifier if w not in text.STOP_WORDS)
        if not content or text.is_numeric(content):
            return np.zeros(0, dtype=int)
        key, stems = "_".join(content), [text.stem(w) for w in content]
        kinds = self._qualifier_kinds(content)
        shared = np.array([self._shared(row, kinds[0]) if kinds else 0 for row in rows])
        closest = shared == shared.max()
        out = np.zeros(len(rows), dtype=int)
        for i, row in enumerate(rows):
            lineage = self.lex.lineage(row)
            if kinds[:1] and (kinds[0] == row or kinds[0] in self.lex.ancestors(row)):
                out[i] = 4
            elif key in lineage.phrases:
                out[i] = 3
            elif _any_match(stems, lineage.words):
                out[i] = 2
            elif _any_match(stems, self.lex.gloss_stems(row)) or (closest[i] and shared[i] >= MIN_SHARED_ANCESTORS):
                out[i] = 1
        return out

    def _qualifier_kinds(self, content: tuple[str, ...]) -> list[int]:
        """The qualifier's own senses, most likely first by sense and visual prior (`Machine` -> the device)."""
        found = self.lex.candidates(("_".join(content),)) or self.lex.candidates((content[-1],))
        if not found:
            return []
        weighed = self._weigh(found, text.parse_name(" ".join(content)), Context())
        return [found[i].row for i in np.argsort(-weighed.weights, kind="stable")[:3]]

    def _shared(self, a: int, b: int) -> int:
        """Number of is-a ancestors (each synset counted as its own) two synsets have in common."""
        return len((self.lex.ancestors(a) | {a}) & (self.lex.ancestors(b) | {b}))

    def _hierarchy_weight(self, rows: list[int], context: Context) -> np.ndarray:
        """Per candidate: the product of the parent, part-of whole and children weights that apply."""
        out = np.ones(len(rows))
        if not (context.parents or context.wholes or context.children):
            return out
        for i, row in enumerate(rows):
            up = self.lex.ancestors(row) | {row}
            if any(p in up for p in context.parents):
                out[i] *= PARENT_WEIGHT
            elif any(g in up for p in context.parents for g in self._hypernyms(p)):
                out[i] *= NEAR_PARENT_WEIGHT
            if context.wholes and any(w in (self.lex.ancestors(row, ALL_RELATIONS) | {row})
                                      for w in context.wholes):
                out[i] *= WHOLE_WEIGHT
            if context.children:
                below = sum(row == k or row in self.lex.ancestors(k, IS_A) for k in context.children)
                out[i] *= 1.0 + CHILDREN_WEIGHT * below / len(context.children)
        return out

    def _hypernyms(self, row: int) -> list[int]:
        return [h for rel in IS_A for h in self.lex.wn.related(row, rel)]

    def _context_stems(self, words: tuple[str, ...]) -> set[str]:
        """Stems of the context words and of the glosses of their first senses (extended Lesk)."""
        stems = {text.stem(w) for w in words}
        for word in words:
            found = self.lex.candidates((word,))
            if found:
                stems |= self.lex.gloss_stems(found[0].row)
        return stems

    def _decide(self, name: str, tier: str, weighed: _Weighed, note: str) -> Mapping:
        """The winner, its score, method and runner-up, or the reason there is none."""
        cands, weights = weighed.candidates, weighed.weights.tolist()   # a few floats: cheaper than numpy calls
        order = sorted(range(len(weights)), key=lambda i: -weights[i])   # stable, as np.argsort(kind="stable")
        best = order[0]
        tier = tier if tier in COMPOUND_TIERS else cands[best].tier  # `Glasses`: exact, or a plural of glass
        syn = self.lex.synsets[cands[best].row]
        total = float_sum(weights)
        share = weights[best] / total
        score = round(share * TIER_CONFIDENCE[tier], 3)
        second = order[1] if len(order) > 1 and weights[order[1]] > 0 else -1
        runner_up = (self.lex.synsets[cands[second].row].wnid, round(weights[second] / total
                                                                       * TIER_CONFIDENCE[tier], 3)) \
            if second >= 0 else ("", 0.0)
        evidence = ";".join(x for x in (note, f"lemma={cands[best].lemma}", f"senses={len(cands)}",
                                        f"share={share:.2f}") if x)
        if weighed.qualifier.size and weighed.qualifier.max() == 0:
            return Mapping(name, reason="qualifier_mismatch", evidence=f"{evidence};best={syn.name}",
                           runner_up=syn.wnid, runner_up_score=score)
        if score < self.min_score:
            return Mapping(name, reason="ambiguous_low_score", score=score, evidence=f"{evidence};best={syn.name}",
                           runner_up=runner_up[0], runner_up_score=runner_up[1])
        method = tier
        if len(cands) > 1 and tier not in COMPOUND_TIERS:
            if weighed.qualifier.size and weighed.qualifier[best] > 0:
                method = "qualifier"
            elif weighed.hierarchy[best] > 1.0:
                method = "hierarchy"
        return Mapping(name, syn.wnid, syn.name, score, method, "", evidence, *runner_up)


def settled(first: Mapping) -> bool:
    """True when a list's coherence cannot change this first-pass answer: it has no runner-up (no
    candidate, or one with all the weight: a factor on every weight leaves its share at 1) and did
    not come from a compound's head noun (coherence reorders the head's senses, whose hyponyms are
    searched)."""
    return not first.runner_up and first.method not in COMPOUND_TIERS


def _any_match(stems: list[str], words: frozenset[str]) -> bool:
    return any(s in words for s in stems) or any(text.stems_match(s, w) for s in stems for w in words)


def _lowercase_head(base_text: str) -> bool:
    """True when the last word is written in lower case where case tells (`Torpedo ram`, `bat`, not `Bat`)."""
    raw = base_text.split()
    return raw[-1] == raw[-1].lower() and (len(raw) > 1 or base_text == base_text.lower())
