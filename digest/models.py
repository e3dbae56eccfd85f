"""Plain dataclasses that flow through the pipeline: sources make Papers, rank makes Matches."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime

_ARXIV_NEW = re.compile(r"^(\d{4}\.\d{4,5})(?:v\d+)?$")
_ARXIV_OLD = re.compile(r"^([a-z][a-z.-]+/\d{7})(?:v\d+)?$", re.IGNORECASE)
_NON_WORD = re.compile(r"[\W_]+", re.UNICODE)
# An arXiv category ("cs.LG", "hep-th", "cond-mat.stat-mech") or a whole archive ("cs").
CATEGORY = re.compile(r"^[a-z][a-z-]*(\.[A-Za-z][A-Za-z-]*)?$")


def arxiv_id(raw: str | None) -> str | None:
    """The arXiv id without its version suffix, or None when `raw` is not an arXiv id."""
    if not raw:
        return None
    raw = raw.strip()
    if raw.lower().startswith("arxiv:"):
        raw = raw[6:]
    m = _ARXIV_NEW.match(raw) or _ARXIV_OLD.match(raw)
    return m.group(1).lower() if m else None


def arxiv_categories(names: Iterable[str]) -> tuple[str, ...]:
    """`names` checked as arXiv categories (or archives), each once in its first place;
    ValueError naming the first that is not one."""
    cats = tuple(dict.fromkeys(names))
    for c in cats:
        if not CATEGORY.match(c):
            raise ValueError(f"{c!r} is not an arXiv category like cs.RO or hep-th")
    return cats


def normalize_title(title: str) -> str:
    """Case, accents, punctuation and spacing folded away, so re-typeset titles compare equal."""
    folded = unicodedata.normalize("NFKD", title).casefold()
    folded = "".join(c for c in folded if not unicodedata.combining(c))
    return _NON_WORD.sub(" ", folded).strip()


def canonical_key(source_id: str | None, title: str) -> str:
    """One key per paper across versions, re-listings and sources (ARCHITECTURE, step 2)."""
    aid = arxiv_id(source_id)
    if aid:
        return f"arxiv:{aid}"
    return f"title:{normalize_title(title)}"


def http_url(raw: object) -> str | None:
    """`raw` if it is an http(s) URL, else None: a listing's links must not become `javascript:`."""
    if not isinstance(raw, str):
        return None
    raw = raw.strip()
    if re.match(r"^https?://[^\s<>\"']+$", raw, re.IGNORECASE):
        return raw
    return None


_ASCII_CONTROLS = {c: " " for c in [*range(0x20), 0x7F]}


def one_line(text: str) -> str:
    """Collapse every run of whitespace and control characters to one space.

    Untrusted text (names, titles) must never carry a line break into a header or a layout.
    """
    if text.isascii():
        return " ".join(text.translate(_ASCII_CONTROLS).split())
    cleaned = "".join(" " if unicodedata.category(c)[0] in "CZ" else c for c in text)
    return " ".join(cleaned.split())


@dataclass(frozen=True, slots=True)
class Paper:
    key: str
    source: str
    source_id: str
    title: str
    abstract: str
    authors: tuple[str, ...] = ()
    published_at: datetime | None = None
    listed_on: date | None = None
    upvotes: int | None = None
    url: str | None = None
    pdf_url: str | None = None
    code_url: str | None = None
    project_url: str | None = None
    organization: str | None = None
    ai_keywords: tuple[str, ...] = ()
    ai_summary: str | None = None
    github_stars: int | None = None
    categories: tuple[str, ...] = ()  # arXiv's, the primary first; () where no source says
    discussion_url: str | None = None  # the Hugging Face page, when `url` is another

    @property
    def arxiv_id(self) -> str | None:
        return arxiv_id(self.source_id)


@dataclass(frozen=True, slots=True)
class Keyword:
    term: str
    weight: float = 1.0
    synonyms: tuple[str, ...] = ()  # the subscriber's own, on top of the built-in ones


@dataclass(frozen=True, slots=True)
class Subscriber:
    email: str
    keywords: tuple[Keyword, ...]
    name: str | None = None
    exclude: tuple[str, ...] = ()
    authors: tuple[str, ...] = ()
    max_papers: int = 10
    min_score: float | None = None  # None: the ranker's default threshold
    frequency: str = "daily"  # or "weekly"
    categories: tuple[str, ...] = ()  # arXiv categories or archives the digest keeps to
    uid: str = ""  # the random id signed links carry instead of the address; set by the store


@dataclass(frozen=True, slots=True)
class Match:
    """One keyword found in one field of a paper, and the points it earned there.

    `via` names the synonyms that were found instead of the keyword as written; `rarity`
    is the keyword's weight for being specific (1.0 for a term almost no paper uses)."""

    term: str
    field: str
    count: int
    points: float
    via: tuple[str, ...] = ()
    rarity: float = 1.0


@dataclass(frozen=True, slots=True)
class Ranked:
    paper: Paper
    score: float
    matches: tuple[Match, ...]
    by_followed_author: bool = False

    @property
    def matched_terms(self) -> list[str]:
        """Matched keywords, strongest first, each once."""
        best: dict[str, float] = {}
        for m in self.matches:
            if m.field != "authors":
                best[m.term] = best.get(m.term, 0.0) + m.points
        return sorted(best, key=lambda t: -best[t])


@dataclass(slots=True)
class Digest:
    """What one subscriber gets in one run: decided before it is rendered or sent."""

    subscriber: Subscriber
    day: date
    papers: list[Ranked]
    passed_over: tuple[str, ...] = ()  # keys that matched but ranked below max_papers
    message_id: str = ""
    topics: list[str] = field(default_factory=list)
    since: date | None = None  # a weekly digest: the first day of the week it covers
