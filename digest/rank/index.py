"""A listing indexed once for every profile that ranks it: each paper's fields as tokens and
positions, where each concept occurs and how strongly, and how rare each concept is."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..domain.digest import Match
from ..domain.paper import Paper
from .context import Context
from .profile import Concept
from .synonyms import Variant
from .terms import BREAK, FUNCTION_WORDS, tokens

FIELD_WEIGHTS: dict[str, float] = {"title": 3.0, "keywords": 2.0, "abstract": 1.0}
SATURATION = 2.0  # weighted occurrences at which a keyword earns half its points
GAP = 2  # words allowed between two words of a phrase: "LLM-based web agents"
SPECIFIC = 200  # a phrase in one paper in this many is fully specific (rarity 1.0)
_NO_GAP = frozenset(t for w in FUNCTION_WORDS for t in tokens(w)) | {BREAK}
MIN_RARITY = 0.3  # a keyword the subscriber chose is never worthless, however common
FURTHER = 0.7  # the second-strongest keyword counts 70%, the third 49%, ...


class FieldIndex:
    """A field's tokens and where each occurs, so a phrase is found by lookups. Where they
    occur is worked out on first use: most reference papers are only ever counted in."""

    __slots__ = ("_positions", "tokens")

    def __init__(self, toks: Sequence[str]) -> None:
        self.tokens = tuple(toks)
        self._positions: dict[str, list[int]] | None = None

    @property
    def positions(self) -> dict[str, list[int]]:
        if self._positions is None:
            positions: dict[str, list[int]] = {}
            for i, tok in enumerate(self.tokens):
                found = positions.get(tok)
                if found is None:
                    positions[tok] = [i]
                else:
                    found.append(i)
            self._positions = positions
        return self._positions

    def spans(self, v: Variant) -> Iterable[tuple[int, int]]:
        """Where the variant's tokens occur in order, each right after the last or, where
        the variant allows it, within GAP words of it."""
        phrase = v.tokens
        starts = self.positions.get(phrase[0])
        if not starts:
            return
        for start in starts:
            end = start + 1
            for word, loose in zip(phrase[1:], v.loose, strict=True):
                reach = end + GAP if loose else end
                nxt = next((p for p in self.positions.get(word, ()) if end <= p <= reach), None)
                if nxt is None or any(t in _NO_GAP for t in self.tokens[end:nxt]):
                    break
                end = nxt + 1
            else:
                yield start, end


def occurrences(idx: FieldIndex, variants: Sequence[Variant]) -> tuple[int, tuple[str, ...]]:
    """How often a concept occurs in a field, and which variants other than the first were
    seen. Overlapping finds count once, and so does "model predictive control (MPC)"."""
    found = sorted((start, -end, i) for i, v in enumerate(variants) for start, end in idx.spans(v))
    count, last_end, via = 0, -2, set()
    for start, neg_end, i in found:
        if start <= last_end + 1:
            last_end = max(last_end, -neg_end)
            continue
        count += 1
        last_end = -neg_end
        if i:
            via.add(variants[i].label)
    return count, tuple(sorted(via))


@dataclass(frozen=True, slots=True)
class PaperIndex:
    paper: Paper
    fields: dict[str, FieldIndex]
    authors: frozenset[str]


def index_paper(paper: Paper) -> PaperIndex:
    kw_tokens: list[str] = []
    for kw in paper.ai_keywords:
        kw_tokens.extend(tokens(kw))
        kw_tokens.append(BREAK)
    return PaperIndex(
        paper=paper,
        fields={
            "title": FieldIndex(tokens(paper.title)),
            "keywords": FieldIndex(kw_tokens),
            "abstract": FieldIndex(tokens(paper.abstract)),
        },
        authors=frozenset(" ".join(tokens(a)) for a in paper.authors),
    )


@dataclass(frozen=True, slots=True)
class Hit:
    """A concept found in one paper: (field, count, synonyms seen) for each field, and its
    strength there (0 to 1) from the field-weighted count."""

    fields: tuple[tuple[str, int, tuple[str, ...]], ...]
    weighted: float
    strength: float


def _hit(fields: tuple[tuple[str, int, tuple[str, ...]], ...]) -> Hit:
    weighted = sum(FIELD_WEIGHTS[f] * n for f, n, _ in fields)
    return Hit(fields, weighted, strength(weighted))


Found = tuple[float, Concept, Hit, float]  # (points, concept, hit, rarity)
Columns = tuple[np.ndarray, np.ndarray, np.ndarray]  # positions, points, Founds


class Listing:
    """Papers indexed once for every profile that ranks them. A concept's finds are
    cached, so ten thousand profiles that share "world model" look for it once."""

    def __init__(self, papers: Iterable[Paper | PaperIndex]) -> None:
        self.indexed = [p if isinstance(p, PaperIndex) else index_paper(p) for p in papers]
        self._postings: dict[str, set[int]] = {}
        for n, idx in enumerate(self.indexed):
            for tok in set().union(*(f.tokens for f in idx.fields.values())):
                found = self._postings.get(tok)
                if found is None:
                    self._postings[tok] = {n}
                else:
                    found.add(n)
        self._hits: dict[frozenset[tuple[str, ...]], dict[int, Hit]] = {}
        self._scored: dict[tuple[Any, ...], list[tuple[int, Found]]] = {}
        self._matches: dict[tuple[int, int], tuple[Found, tuple[Match, ...]]] = {}
        self.upvotes = [i.paper.upvotes or 0 for i in self.indexed]
        self.keys = [i.paper.key for i in self.indexed]
        self.positions: dict[str, list[int]] = {}  # a key listed twice is at two places
        for n, key in enumerate(self.keys):
            self.positions.setdefault(key, []).append(n)
        by_votes = sorted(range(len(self.keys)), key=lambda n: (-self.upvotes[n], self.keys[n]))
        self.tie = np.empty(len(by_votes), dtype=np.int64)  # order among equal scores
        self.tie[by_votes] = np.arange(len(by_votes))
        self.ties: list[int] = self.tie.tolist()
        # The papers with upvotes, most first: what `rank.trending` takes from.
        self.voted = [n for n in by_votes if self.upvotes[n] > 0]
        self._context: Context | None = None
        self._outside: dict[frozenset[str], set[int]] = {}
        self._columns: dict[int, tuple[Concept, Rarity, Columns]] = {}

    def __len__(self) -> int:
        return len(self.indexed)

    @property
    def context(self) -> Context:
        """The papers indexed for the whole-profile fit, on first use."""
        if self._context is None:
            self._context = Context(self.indexed)
        return self._context

    def outside(self, categories: frozenset[str]) -> set[int]:
        """Papers in none of `categories` (folded; an archive such as "cs" holds every cs.*
        category). A paper no source gave categories for is in none: a digest kept to
        cs.RO sends only what is known to be cs.RO."""
        cached = self._outside.get(categories)
        if cached is None:
            cached = self._outside[categories] = {
                n
                for n, idx in enumerate(self.indexed)
                if not any(
                    c in categories or c.split(".", 1)[0] in categories
                    for c in (c.lower() for c in idx.paper.categories)
                )
            }
        return cached

    def matches(self, found: Found, i: int) -> tuple[Match, ...]:
        """A keyword's Matches in one paper where it is the paper's (i+1)-th strongest: its
        points, at FURTHER**i, shared out over the fields it was found in. Made once, as the
        `scored` entries are shared by every profile with the keyword."""
        made = self._matches.get((id(found), i))
        if made is not None and made[0] is found:
            return made[1]
        points, concept, hit, r = found
        points *= FURTHER**i
        out = tuple(
            Match(
                concept.label,
                f,
                count,
                round(points * FIELD_WEIGHTS[f] * count / hit.weighted, 4),
                via,
                round(r, 4),
            )
            for f, count, via in hit.fields
        )
        self._matches[id(found), i] = (found, out)
        return out

    def scored(self, concept: Concept, rarity: float) -> list[tuple[int, Found]]:
        """Each paper the concept occurs in, with its points there: worked out once for all
        the profiles that share the keyword (and its weight)."""
        key = (concept.key, concept.label, concept.weight, rarity)
        cached = self._scored.get(key)
        if cached is None:
            scale = concept.weight * rarity
            cached = self._scored[key] = [
                (n, (scale * hit.strength, concept, hit, rarity))
                for n, hit in self.hits(concept).items()
            ]
        return cached

    def columns(self, concept: Concept, rarity: Rarity) -> Columns:
        """`scored` as arrays: the papers' positions, the points there, and the Founds. Looked
        up by the concept itself: profiles share their keywords' Concept objects."""
        cached = self._columns.get(id(concept))
        if cached is not None and cached[0] is concept and cached[1] is rarity:
            return cached[2]
        scored = self.scored(concept, rarity(concept))
        found = np.empty(len(scored), dtype=object)
        for i, (_, f) in enumerate(scored):  # one by one: a Found is itself a tuple
            found[i] = f
        made = (
            np.fromiter((n for n, _ in scored), dtype=np.int64, count=len(scored)),
            np.fromiter((f[0] for _, f in scored), dtype=np.float64, count=len(scored)),
            found,
        )
        self._columns[id(concept)] = (concept, rarity, made)
        return made

    def hits(self, concept: Concept) -> dict[int, Hit]:
        """Papers (by position) where any of the concept's variants occurs, with where and
        how often."""
        key = concept.key
        cached = self._hits.get(key)
        if cached is not None:
            return cached
        variants = concept.variants
        candidates: set[int] = set()
        for v in variants:
            sets = [self._postings.get(t) for t in set(v.tokens)]
            if all(sets):
                candidates |= set.intersection(*sets)  # type: ignore[arg-type]
        out: dict[int, Hit] = {}
        for n in candidates:
            per_field = []
            for name, f in self.indexed[n].fields.items():
                count, via = occurrences(f, variants)
                if count:
                    per_field.append((name, count, via))
            if per_field:
                out[n] = _hit(tuple(per_field))
        self._hits[key] = out
        return out


@dataclass
class Rarity:
    """How specific a concept is, from how many of the reference papers mention it."""

    reference: Listing
    _cache: dict[frozenset[tuple[str, ...]], float] = field(default_factory=dict)

    def __call__(self, concept: Concept) -> float:
        key = concept.key
        value = self._cache.get(key)
        if value is None:
            df = len(self.reference.hits(concept))
            share = (df + 0.5) / (len(self.reference) + 1)
            value = min(1.0, max(MIN_RARITY, math.log(1 / share) / math.log(SPECIFIC)))
            self._cache[key] = value
        return value


def strength(weighted: float) -> float:
    """0 to 1, saturating: a keyword said ten times is not ten times better."""
    return weighted / (weighted + SATURATION)
