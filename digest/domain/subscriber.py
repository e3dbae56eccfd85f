"""A subscriber: the profile they asked for (keywords, exclusions, followed authors, ...),
the entry that profile is written as (the subscriber file's, which the store keeps too), and
the state of their subscription (pending, active, paused, unsubscribed)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from .paper import arxiv_categories, arxiv_ids
from .text import one_line

# A subscription's status: asked on the web and not confirmed yet; receiving digests (unless
# paused); unsubscribed, which only the subscriber can undo.
PENDING_CONFIRMATION, ACTIVE, UNSUBSCRIBED = "pending", "active", "unsubscribed"


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
    papers: tuple[str, ...] = ()  # arXiv ids of papers the reader likes: they act as likes
    trending: int = 0  # the day's (week's) most upvoted new papers, after the picks
    uid: str = ""  # the random id signed links carry instead of the address; set by the store


@dataclass(frozen=True, slots=True)
class Subscription:
    """A subscriber as the store keeps them: their profile, and where their subscription
    stands."""

    subscriber: Subscriber
    status: str
    paused: bool
    origin: str  # "web", "cli" or "file:<path>"
    created_at: datetime | None = None
    confirmed_at: datetime | None = None
    unsubscribed_at: datetime | None = None
    weekly_done: date | None = None  # the last weekly digest day decided for them
    file_hash: str | None = None  # their file entry as last imported (subscriptions.rules)
    notices: tuple[datetime, ...] = ()  # when confirmation or link mails went out

    @property
    def email(self) -> str:
        return self.subscriber.email

    @property
    def uid(self) -> str:
        return self.subscriber.uid

    @property
    def receiving(self) -> bool:
        return self.status == ACTIVE and not self.paused

    @property
    def weekly(self) -> bool:
        return self.subscriber.frequency == "weekly"

    @property
    def state(self) -> str:
        """What an operator reads: active, paused, pending or unsubscribed."""
        return "paused" if self.status == ACTIVE and self.paused else self.status


# The entry a profile is written as: in the subscriber file, in the store, in an export.
_EMAIL = re.compile(
    r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*$"
)
ENTRY_KEYS = {
    "email",
    "name",
    "keywords",
    "exclude",
    "authors",
    "max_papers",
    "min_score",
    "frequency",
    "categories",
    "papers",
    "trending",
}
FREQUENCIES = ("daily", "weekly")
MAX_SCORE = 100.0
MAX_PAPERS_LIMIT = 100
MAX_WEIGHT = 100.0
MAX_SEEDS = 50
MAX_TRENDING = 20
# What `trending` is for a subscriber who joins from the subscribe page or the command line
# and says nothing: a short section of the day's most upvoted papers, which readers of such
# listings value beside their niche, and which teaches a newcomer what to write. A file entry
# without it gets none: an operator's profiles do not change under them.
NEW_SUBSCRIBER_TRENDING = 3


def valid_email(addr: str) -> bool:
    return bool(_EMAIL.match(addr)) and len(addr) <= 254


def _terms(value: Any, what: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"'{what}' must be a list of strings")
    terms = tuple(one_line(v) for v in value)
    if any(not t for t in terms):
        raise ValueError(f"'{what}' has an empty entry")
    return terms


def _categories(value: Any, known: bool = True) -> tuple[str, ...]:
    try:
        return arxiv_categories(_terms(value, "categories"), known=known)
    except ValueError as exc:
        raise ValueError(f"'categories': {exc}") from None


def _papers(value: Any) -> tuple[str, ...]:
    try:
        ids = arxiv_ids(_terms(value, "papers"))
    except ValueError as exc:
        raise ValueError(f"'papers': {exc}") from None
    if len(ids) > MAX_SEEDS:
        raise ValueError(f"'papers' names {len(ids)} papers; at most {MAX_SEEDS}")
    return ids


def _number(value: Any, what: str, lo: float, hi: float, *, above: bool = False) -> float:
    """A finite number in the range; NaN and booleans are refused, as TOML allows both."""
    ok = (
        not isinstance(value, bool)
        and isinstance(value, int | float)
        and (lo < value if above else lo <= value)
        and value <= hi
    )
    if not ok:
        bound = "above" if above else "from"
        raise ValueError(f"{what} must be a number {bound} {lo:g} and at most {hi:g}")
    return float(value)


def _whole(value: Any, key: str, lo: int, hi: int) -> int:
    """A whole number in the range; a boolean (an int to Python, not to a reader) refused."""
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise ValueError(f"'{key}' must be a whole number from {lo} to {hi}")
    return value


def _keywords(value: Any, *, optional: bool = False) -> tuple[Keyword, ...]:
    """The keywords; `optional` (a profile of trending papers only): none is fine."""
    if optional and value in (None, []):
        return ()
    if not isinstance(value, list) or not value:
        raise ValueError("'keywords' must be a non-empty list")
    out = []
    for kw in value:
        synonyms: tuple[str, ...] = ()
        if isinstance(kw, str):
            term, weight = kw, 1.0
        elif isinstance(kw, dict):
            unknown = set(kw) - {"term", "weight", "synonyms"}
            if unknown:
                raise ValueError(f"keyword has unknown key(s): {', '.join(sorted(unknown))}")
            term = kw.get("term")
            if not isinstance(term, str):
                raise ValueError("a keyword table needs a string 'term'")
            weight = _number(
                kw.get("weight", 1.0), f"keyword {term!r}: 'weight'", 0, MAX_WEIGHT, above=True
            )
            synonyms = _terms(kw.get("synonyms", []), f"keyword {term!r}: 'synonyms'")
        else:
            raise ValueError("each keyword is a string or {term = ..., weight = ...}")
        term = one_line(term)
        if not term:
            raise ValueError("'keywords' has an empty entry")
        out.append(Keyword(term, weight, synonyms))
    return tuple(out)


def parse_entry(entry: Any, *, stored: bool = False) -> Subscriber:
    """A subscriber from an entry, or ValueError saying what is wrong with it. A `stored`
    entry (the database's) is read as it was accepted: its categories are not checked
    against a taxonomy newer than it."""
    if not isinstance(entry, dict):
        raise ValueError("is not a table")
    unknown = set(entry) - ENTRY_KEYS
    if unknown:
        raise ValueError(f"unknown key(s): {', '.join(sorted(unknown))}")
    email = entry.get("email")
    if not isinstance(email, str) or not valid_email(email.strip()):
        raise ValueError(f"invalid email address {email!r}")
    name = entry.get("name")
    if name is not None and not isinstance(name, str):
        raise ValueError("'name' must be a string")
    max_papers = _whole(entry.get("max_papers", 10), "max_papers", 1, MAX_PAPERS_LIMIT)
    min_score = entry.get("min_score")
    if min_score is not None:
        min_score = _number(min_score, "'min_score'", 0, MAX_SCORE)
    frequency = entry.get("frequency", "daily")
    if frequency not in FREQUENCIES:
        raise ValueError(f"'frequency' must be one of: {', '.join(FREQUENCIES)}")
    trending = _whole(entry.get("trending", 0), "trending", 0, MAX_TRENDING)
    keywords = entry.get("keywords")
    if not trending and keywords in (None, []):
        raise ValueError("'keywords' must be a non-empty list (or set 'trending' for none)")
    return Subscriber(
        email=email.strip().lower(),
        name=(one_line(name) or None) if name else None,
        keywords=_keywords(keywords, optional=bool(trending)),
        trending=trending,
        exclude=_terms(entry.get("exclude", []), "exclude"),
        authors=_terms(entry.get("authors", []), "authors"),
        max_papers=max_papers,
        min_score=min_score,
        frequency=frequency,
        categories=_categories(entry.get("categories", []), known=not stored),
        papers=_papers(entry.get("papers", [])),
    )


def entry_of(sub: Subscriber) -> dict[str, Any]:
    """The subscriber as a subscriber-file entry, defaults left out: what the store keeps,
    what `digest subscribers export` writes, and what parse_entry reads back unchanged."""
    keywords: list[Any] = []
    for kw in sub.keywords:
        if kw.weight == 1.0 and not kw.synonyms:
            keywords.append(kw.term)
        else:
            table: dict[str, Any] = {"term": kw.term}
            if kw.weight != 1.0:
                table["weight"] = kw.weight
            if kw.synonyms:
                table["synonyms"] = list(kw.synonyms)
            keywords.append(table)
    entry: dict[str, Any] = {"email": sub.email}
    if sub.name:
        entry["name"] = sub.name
    entry["keywords"] = keywords
    if sub.trending:
        entry["trending"] = sub.trending
    for key in ("exclude", "authors", "categories", "papers"):
        if getattr(sub, key):
            entry[key] = list(getattr(sub, key))
    if sub.max_papers != 10:
        entry["max_papers"] = sub.max_papers
    if sub.min_score is not None:
        entry["min_score"] = sub.min_score
    if sub.frequency != "daily":
        entry["frequency"] = sub.frequency
    return entry
