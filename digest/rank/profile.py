"""A subscriber's profile compiled for ranking: each keyword a concept with every way of writing
it, exclusions, followed authors, the threshold."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..domain.subscriber import Subscriber
from .synonyms import THESAURUS, Thesaurus, Variant
from .terms import tokens

MIN_SCORE = 0.15  # one common word once in an abstract: about 0.1; in the title: 0.2


@dataclass(frozen=True, slots=True)
class Concept:
    """One keyword of a profile, with every way of writing it."""

    label: str
    variants: tuple[Variant, ...]
    weight: float = 1.0
    key: frozenset[tuple[str, ...]] = field(init=False, compare=False)  # what caches look up

    def __post_init__(self) -> None:
        object.__setattr__(self, "key", frozenset(v.tokens for v in self.variants))


@dataclass(frozen=True, slots=True)
class Profile:
    concepts: tuple[Concept, ...]
    exclude: tuple[Concept, ...]
    authors: tuple[tuple[str, str], ...]  # (as written, folded)
    max_papers: int
    min_score: float = MIN_SCORE
    categories: frozenset[str] = frozenset()  # folded; empty: every paper may go


def compile_profile(sub: Subscriber, thesaurus: Thesaurus = THESAURUS) -> Profile:
    """Expand a subscriber's terms once, so scoring is only lookups. Keywords that are
    synonyms of each other ("MPC", "model predictive control") become one concept with
    their weights added: the subscriber said it twice, so it is the heart of the profile."""
    concepts: list[Concept] = []
    for kw in sub.keywords:
        variants = thesaurus.variants(kw.term, kw.synonyms)
        if not variants:
            continue
        written = {v.tokens for v in variants}
        same = next((i for i, c in enumerate(concepts) if c.key & written), None)
        if same is None:
            concepts.append(Concept(kw.term, variants, kw.weight))
        else:
            c = concepts[same]
            merged = c.variants + tuple(v for v in variants if v.tokens not in c.key)
            concepts[same] = Concept(c.label, merged, c.weight + kw.weight)
    exclude = tuple(Concept(t, v) for t in sub.exclude if (v := thesaurus.variants(t)))
    return Profile(
        concepts=tuple(concepts),
        exclude=exclude,
        authors=tuple((a, " ".join(tokens(a))) for a in sub.authors),
        max_papers=sub.max_papers,
        min_score=MIN_SCORE if sub.min_score is None else sub.min_score,
        categories=frozenset(c.lower() for c in sub.categories),
    )
