"""A subscriber's profile compiled for ranking: each keyword a concept with every way of writing
it, exclusions, followed authors, the threshold."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

from ..domain.subscriber import Subscriber
from .context import profile_words
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
    words: tuple[str, ...] = ()  # the keywords' words, for the whole-profile fit
    fit: bool = True  # False: keyword points alone order the papers (rank.context)


def compile_profile(sub: Subscriber, thesaurus: Thesaurus = THESAURUS) -> Profile:
    """Expand a subscriber's terms once, so scoring is only lookups. Keywords that are
    synonyms of each other ("MPC", "model predictive control") become one concept with
    their weights added: the subscriber said it twice, so it is the heart of the profile."""
    concepts: list[Concept] = []
    for kw in sub.keywords:
        one = _concept(thesaurus, kw.term, kw.synonyms, kw.weight)
        if one is None:
            continue
        same = next((i for i, c in enumerate(concepts) if c.key & one.key), None)
        if same is None:
            concepts.append(one)
        else:
            c = concepts[same]
            merged = c.variants + tuple(v for v in one.variants if v.tokens not in c.key)
            concepts[same] = Concept(c.label, merged, c.weight + kw.weight)
    exclude = tuple(c for t in sub.exclude if (c := _concept(thesaurus, t, (), 1.0)))
    return Profile(
        concepts=tuple(concepts),
        exclude=exclude,
        authors=tuple((a, " ".join(tokens(a))) for a in sub.authors),
        max_papers=sub.max_papers,
        min_score=MIN_SCORE if sub.min_score is None else sub.min_score,
        categories=frozenset(c.lower() for c in sub.categories),
        words=profile_words(kw.term for kw in sub.keywords),
    )


@lru_cache(maxsize=65536)
def _concept(
    thesaurus: Thesaurus, term: str, synonyms: tuple[str, ...], weight: float
) -> Concept | None:
    """One keyword as a concept, made once: ten thousand profiles share far fewer keywords."""
    variants = thesaurus.variants(term, synonyms)
    return Concept(term, variants, weight) if variants else None
