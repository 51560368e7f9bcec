"""Compound names that are not WordNet lemmas: when the head noun stands for the whole.

`Pistachio ice cream` is an ice cream and `Red bellied Woodpecker` a woodpecker, so
such a name may map to its head noun's synset (a correct, more general class).
`Ford falcon` is not a falcon and `Helicoverpa zea` is not maize: when the modifier
is a proper name (a brand, a genus), the last word names a model or a species
epithet, not a kind. So the head noun is used only when

- every dropped modifier is an ordinary lower-case English word (a WordNet common
  noun or an adjective/verb/adverb form), a possessive (`Sprenger's tulip`, an
  eponym names a variety of the head) or a number; and
- the first word is not a *namespace prefix* of the class list: a word that starts
  many names whose last words are mostly not nouns or are model numbers (`Ford`,
  `Boeing`, `Toyota`: makers followed by model names). This is list-level evidence,
  computed once per list by `namespace_prefixes`;
- the head is a common noun, not a number or a proper name (`Captain america` is not
  a kind of America): instance synsets are not head candidates.

Before the head noun itself, a hyponym of its two likeliest senses (within `HYPONYM_DEPTH`
levels) whose lemma words contain every modifier, or a visual one whose gloss does, is looked
for: `Bicycle helmet` is the crash helmet ("a padded helmet worn by people riding bicycles..."),
`Potted plant` the pot plant. Such a synset is more specific than the head noun and is what
the name means. A modifier that is a function word (`Off-road vehicle`) stops the search.

`X of Y` names map through X (`Bowl of rice` -> bowl). Coordinated modifiers share
the last word as head (`Salt and pepper shakers` -> shaker, not pepper shaker).
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from mlbuild.classes.mapping import text
from mlbuild.classes.mapping.lexicon import Candidate, Lexicon

MIN_NAMESPACE_GROUP = 4
HEAD_SENSES = 2               # the likeliest head senses whose hyponyms are searched
HYPONYM_DEPTH = 2             # levels below a head sense searched for the specific synset
MAX_NAMESPACE_LEMMA_SHARE = 0.05
MAX_NAMESPACE_HEAD_SHARE = 0.6
MIN_NAMESPACE_NUMERIC_SHARE = 0.3


@dataclass(frozen=True)
class Head:
    """The outcome of a head-noun attempt: the head phrase's candidates, or why none were used."""

    phrase: str
    candidates: tuple[Candidate, ...]
    refused: str = ""


def head_noun(lex: Lexicon, tokens: tuple[str, ...], namespaces: frozenset[str]) -> Head | None:
    """The longest head phrase of a compound that WordNet knows, if the modifiers allow it."""
    if "of" in tokens[1:-1]:
        tokens = tokens[: tokens.index("of")]
        candidates = lex.candidates(("_".join(tokens),))
        if candidates:
            return Head(" ".join(tokens), candidates)
    conjunctions = [i for i, t in enumerate(tokens) if t in ("and", "or")]
    for cut in range(conjunctions[-1] + 2 if conjunctions else 1, len(tokens)):
        head, modifiers = tokens[cut:], tokens[:cut]
        if not head[-1].isalpha():
            continue
        candidates = tuple(c for c in lex.candidates(("_".join(head),)) if not lex.is_instance[c.row])
        if not candidates:
            continue
        phrase = " ".join(head)
        if tokens[0] in namespaces or not all(_ordinary_modifier(lex, m) for m in modifiers):
            return Head(phrase, (), "proper_name")
        return Head(phrase, candidates)
    return None


def specific_hyponyms(lex: Lexicon, heads: list[int], modifiers: tuple[str, ...],
                      visual: np.ndarray | None,
                      cache: dict[tuple[tuple[int, ...], frozenset[str]], tuple[Candidate, ...]]
                      ) -> tuple[Candidate, ...]:
    """Hyponyms of the likeliest head senses whose lemma words contain every modifier's stem, or
    visual ones whose gloss does (memoized in `cache`, one per mapper)."""
    if not modifiers or any(m in text.STOP_WORDS or not m.isalpha() for m in modifiers):
        return ()
    key = (tuple(heads[:HEAD_SENSES]), frozenset(text.stem(m) for m in modifiers))
    if key not in cache:
        cache[key] = _specific(lex, *key, visual)
    return cache[key]


def _specific(lex: Lexicon, heads: tuple[int, ...], stems: frozenset[str],
              visual: np.ndarray | None) -> tuple[Candidate, ...]:
    found = []
    for row in dict.fromkeys(r for head in heads for r in lex.hyponyms(head, HYPONYM_DEPTH)):
        syn = lex.synsets[row]
        said = f"{syn.gloss} {' '.join(syn.lemmas)}".lower()
        if not all(s[:4] in said for s in stems):   # cheap filter before stemming the gloss
            continue
        named = stems <= {text.stem(w) for lemma in syn.lemmas for w in lemma.lower().split("_")}
        if named or ((visual is None or visual[row]) and stems <= lex.gloss_stems(row)):
            found.append(Candidate(row, syn.lemmas[0], 1, 0, 1.0, "specific_hyponym"))
    return tuple(found)


def _ordinary_modifier(lex: Lexicon, word: str) -> bool:
    return (word.endswith("'s") or word in text.STOP_WORDS or any(ch.isdigit() for ch in word)
            or lex.is_common_word(word))


def namespace_prefixes(lex: Lexicon, names: Iterable[text.ParsedName]) -> frozenset[str]:
    """First words that act as a maker's namespace in this class list (`ford`, `boeing`).

    A first word starting at least MIN_NAMESPACE_GROUP names is a namespace when many
    of its names carry model numbers, or when it is not an adjective, almost none of
    its names is a WordNet lemma (`Red fox` and `Red wine` are; no `Ford ...` is) and
    few of them end in a common noun (`Ford` 46%; `Laboratory ...` 100%).
    """
    groups: dict[str, list[tuple[str, ...]]] = defaultdict(list)
    for parsed in names:
        if len(parsed.base) >= 2:
            groups[parsed.base[0]].append(parsed.base)
    return frozenset(first for first, members in groups.items()
                     if len(members) >= MIN_NAMESPACE_GROUP and _is_namespace(lex, first, members))


def _is_namespace(lex: Lexicon, first: str, members: list[tuple[str, ...]]) -> bool:
    def share(flags: Iterable[bool]) -> float:
        return sum(flags) / len(members)

    if share(any(ch.isdigit() for t in m[1:] for ch in t) for m in members) >= MIN_NAMESPACE_NUMERIC_SHARE:
        return True
    if "a" in lex.other_pos.get(first, ("", 0))[0]:
        return False
    if share(bool(lex.candidates(("_".join(m),))) for m in members) >= MAX_NAMESPACE_LEMMA_SHARE:
        return False
    heads = (head_noun(lex, m, frozenset()) for m in members)
    return share(bool(h and h.candidates) for h in heads) <= MAX_NAMESPACE_HEAD_SHARE
