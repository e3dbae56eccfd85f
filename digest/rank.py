"""Keyword-profile ranking that explains itself: every point of a score is a Match.

Text is folded to stemmed tokens (case, hyphens and plurals do not matter), a keyword matches
as a contiguous token phrase, and each field has a weight: the title counts most, the listing's
own keywords next, the abstract least. Repeats add only logarithmically, and gently:
three keywords in a title beat one keyword said four times.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from .models import Match, Paper, Ranked, Subscriber

FIELD_WEIGHTS: dict[str, float] = {"title": 3.0, "keywords": 2.0, "abstract": 1.0}
AUTHOR_POINTS = 5.0
REPEAT_BONUS = 0.5
_TOKEN = re.compile(r"[^\W_]+", re.UNICODE)
_BREAK = "\x00"  # between ai_keywords, so a phrase never spans two of them


def stem(token: str) -> str:
    """A light plural folding: enough that "policies" is "policy" and "models" is "model"."""
    if len(token) <= 3 or token.isdigit():
        return token
    if token.endswith("ies") and len(token) > 4:
        return token[:-3] + "y"
    if token.endswith(("sses", "shes", "ches", "xes")):
        return token[:-2]
    if token.endswith("s") and not token.endswith(("ss", "us", "is")):
        return token[:-1]
    return token


def fold(text: str) -> str:
    text = unicodedata.normalize("NFKD", text).casefold()
    return "".join(c for c in text if not unicodedata.combining(c))


def tokens(text: str) -> tuple[str, ...]:
    return tuple(stem(t) for t in _TOKEN.findall(fold(text)))


@dataclass(frozen=True, slots=True)
class Term:
    label: str
    tokens: tuple[str, ...]
    weight: float = 1.0


@dataclass(frozen=True, slots=True)
class Profile:
    keywords: tuple[Term, ...]
    exclude: tuple[Term, ...]
    authors: tuple[tuple[str, str], ...]  # (as written, folded)
    max_papers: int


def compile_profile(sub: Subscriber) -> Profile:
    """Tokenize a subscriber's terms once, so scoring a paper is only lookups."""

    def terms(items: Iterable[tuple[str, float]]) -> tuple[Term, ...]:
        out = []
        for label, weight in items:
            toks = tokens(label)
            if toks:
                out.append(Term(label, toks, weight))
        return tuple(out)

    return Profile(
        keywords=terms((k.term, k.weight) for k in sub.keywords),
        exclude=terms((t, 1.0) for t in sub.exclude),
        authors=tuple((a, " ".join(tokens(a))) for a in sub.authors),
        max_papers=sub.max_papers,
    )


class FieldIndex:
    """A field's tokens and where each token occurs, for phrase counting by lookup."""

    __slots__ = ("positions", "tokens")

    def __init__(self, toks: Sequence[str]) -> None:
        self.tokens = tuple(toks)
        self.positions: dict[str, list[int]] = {}
        for i, tok in enumerate(self.tokens):
            self.positions.setdefault(tok, []).append(i)

    def count(self, phrase: tuple[str, ...]) -> int:
        starts = self.positions.get(phrase[0])
        if not starts:
            return 0
        n = len(phrase)
        if n == 1:
            return len(starts)
        toks = self.tokens
        return sum(1 for i in starts if toks[i : i + n] == phrase)


@dataclass(frozen=True, slots=True)
class PaperIndex:
    paper: Paper
    fields: dict[str, FieldIndex]
    authors: frozenset[str]


def index_paper(paper: Paper) -> PaperIndex:
    kw_tokens: list[str] = []
    for kw in paper.ai_keywords:
        kw_tokens.extend(tokens(kw))
        kw_tokens.append(_BREAK)
    return PaperIndex(
        paper=paper,
        fields={
            "title": FieldIndex(tokens(paper.title)),
            "keywords": FieldIndex(kw_tokens),
            "abstract": FieldIndex(tokens(paper.abstract)),
        },
        authors=frozenset(" ".join(tokens(a)) for a in paper.authors),
    )


def score(profile: Profile, idx: PaperIndex) -> Ranked | None:
    """The paper's score and its reasons, or None when it is vetoed or matches nothing."""
    for term in profile.exclude:
        if any(f.count(term.tokens) for f in idx.fields.values()):
            return None
    matches: list[Match] = []
    for term in profile.keywords:
        for field, weight in FIELD_WEIGHTS.items():
            n = idx.fields[field].count(term.tokens)
            if n:
                points = term.weight * weight * (1.0 + REPEAT_BONUS * math.log(n))
                matches.append(Match(term.label, field, n, round(points, 4)))
    followed = False
    for written, folded in profile.authors:
        if folded in idx.authors:
            followed = True
            matches.append(Match(written, "authors", 1, AUTHOR_POINTS))
    if not matches:
        return None
    total = round(sum(m.points for m in matches), 4)
    return Ranked(idx.paper, total, tuple(matches), by_followed_author=followed)


def sort_key(r: Ranked) -> tuple[bool, float, int, str]:
    """Followed authors first, then score; upvotes only break ties."""
    return (not r.by_followed_author, -r.score, -(r.paper.upvotes or 0), r.paper.key)


def rank(profile: Profile, indexed: Iterable[PaperIndex]) -> list[Ranked]:
    """Every candidate that matches the profile, best first."""
    ranked = [r for r in (score(profile, idx) for idx in indexed) if r is not None]
    ranked.sort(key=sort_key)
    return ranked
