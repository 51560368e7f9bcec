"""Which mappings a person should check first, with both candidate glosses side by side.

A mapping is worth a look when its margin over the runner-up is small, when it fell back to
the head noun of a compound (a more general class), or when its qualifier matched no sense
(`Crane (Food)`) or it stayed unmapped for a low score. `review` lists them, most doubtful
first; corrections go into an overrides file (`name,wnid,note`) that `map-names --overrides`
and the Open Images table builder read back.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from mlbuild.classes.mapping.names import Mapping
from mlbuild.classes.wordnet import WordNet

LOW_MARGIN = 0.2
REVIEW_REASONS = ("qualifier_mismatch", "ambiguous_low_score")


@dataclass(frozen=True)
class ReviewItem:
    """One mapping to check: why, the answer and the runner-up with their glosses."""

    name: str
    why: str
    answer: str
    answer_gloss: str
    runner_up: str
    runner_up_gloss: str
    margin: float


def why_review(m: Mapping) -> str:
    """The reason to check a mapping first ('' when it looks safe)."""
    if m.reason in REVIEW_REASONS:
        return "qualifier_unmet" if m.reason == "qualifier_mismatch" else "low_score"
    if m.method == "head_noun":
        return "head_noun_fallback"
    if m.mapped and m.runner_up and m.margin < LOW_MARGIN:
        return "low_margin"
    return ""


def review(wn: WordNet, mappings: Iterable[Mapping]) -> list[ReviewItem]:
    """The mappings to check, smallest margin first (ties in input order)."""
    items = []
    for m in mappings:
        why = why_review(m)
        if not why:
            continue
        answer = wn.synset(m.wnid) if m.wnid else None
        second = wn.synset(m.runner_up) if m.runner_up else None
        items.append(ReviewItem(m.name, why, answer.name if answer else "-", answer.gloss if answer else "",
                                second.name if second else "-", second.gloss if second else "", m.margin))
    return sorted(items, key=lambda i: i.margin)


def format_review(items: list[ReviewItem]) -> str:
    """Plain-text report: one block per mapping, both glosses side by side."""
    lines = [f"{len(items):,} mappings to check (smallest margin first):"]
    for i in items:
        lines.append(f"- {i.name!r}: {i.why}, margin {i.margin:.3f}")
        lines.append(f"    chosen     {i.answer}: {i.answer_gloss}")
        lines.append(f"    runner-up  {i.runner_up}: {i.runner_up_gloss}")
    return "\n".join(lines)
