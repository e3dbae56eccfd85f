"""Read and validate the subscriber file; a file with any bad entry is refused whole."""

from __future__ import annotations

import hashlib
import re
import tomllib
from pathlib import Path
from typing import Any

from .config import ConfigError
from .models import Keyword, Subscriber, arxiv_categories, one_line

_EMAIL = re.compile(
    r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*$"
)
ENTRY_KEYS = _KEYS = {
    "email",
    "name",
    "keywords",
    "exclude",
    "authors",
    "max_papers",
    "min_score",
    "frequency",
    "categories",
}
FREQUENCIES = ("daily", "weekly")
MAX_SCORE = 100.0
MAX_PAPERS_LIMIT = 100


MAX_WEIGHT = 100.0


def valid_email(addr: str) -> bool:
    return bool(_EMAIL.match(addr)) and len(addr) <= 254


def _terms(value: Any, what: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"'{what}' must be a list of strings")
    terms = tuple(one_line(v) for v in value)
    if any(not t for t in terms):
        raise ValueError(f"'{what}' has an empty entry")
    return terms


def _categories(value: Any) -> tuple[str, ...]:
    try:
        return arxiv_categories(_terms(value, "categories"))
    except ValueError as exc:
        raise ValueError(f"'categories': {exc}") from None


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


def _keywords(value: Any) -> tuple[Keyword, ...]:
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


def parse_entry(entry: Any) -> Subscriber:
    if not isinstance(entry, dict):
        raise ValueError("is not a table")
    unknown = set(entry) - _KEYS
    if unknown:
        raise ValueError(f"unknown key(s): {', '.join(sorted(unknown))}")
    email = entry.get("email")
    if not isinstance(email, str) or not valid_email(email.strip()):
        raise ValueError(f"invalid email address {email!r}")
    name = entry.get("name")
    if name is not None and not isinstance(name, str):
        raise ValueError("'name' must be a string")
    max_papers = entry.get("max_papers", 10)
    if (
        isinstance(max_papers, bool)
        or not isinstance(max_papers, int)
        or not (1 <= max_papers <= MAX_PAPERS_LIMIT)
    ):
        raise ValueError(f"'max_papers' must be a whole number from 1 to {MAX_PAPERS_LIMIT}")
    min_score = entry.get("min_score")
    if min_score is not None:
        min_score = _number(min_score, "'min_score'", 0, MAX_SCORE)
    frequency = entry.get("frequency", "daily")
    if frequency not in FREQUENCIES:
        raise ValueError(f"'frequency' must be one of: {', '.join(FREQUENCIES)}")
    return Subscriber(
        email=email.strip().lower(),
        name=(one_line(name) or None) if name else None,
        keywords=_keywords(entry.get("keywords")),
        exclude=_terms(entry.get("exclude", []), "exclude"),
        authors=_terms(entry.get("authors", []), "authors"),
        max_papers=max_papers,
        min_score=min_score,
        frequency=frequency,
        categories=_categories(entry.get("categories", [])),
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
    for key in ("exclude", "authors", "categories"):
        if getattr(sub, key):
            entry[key] = list(getattr(sub, key))
    if sub.max_papers != 10:
        entry["max_papers"] = sub.max_papers
    if sub.min_score is not None:
        entry["min_score"] = sub.min_score
    if sub.frequency != "daily":
        entry["frequency"] = sub.frequency
    return entry


def load_subscribers(path: Path) -> list[Subscriber]:
    """All subscribers of `path`, or ConfigError naming the file, the entry and the problem."""
    return read_subscribers(path)[1]


def read_subscribers(path: Path) -> tuple[str, list[Subscriber]]:
    """The file's fingerprint (so an unchanged file is not imported again) and its
    subscribers, from one read."""
    try:
        raw = path.read_bytes()
        fingerprint = hashlib.sha256(raw).hexdigest()
        data = tomllib.loads(raw.decode("utf-8"))
    except FileNotFoundError:
        raise ConfigError(
            f"{path}: subscriber file not found (copy subscribers.example.toml, "
            "or point DIGEST_SUBSCRIBERS at yours)"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read subscriber file: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None

    unknown = set(data) - {"subscriber"}
    if unknown:
        raise ConfigError(f"{path}: unknown top-level key(s): {', '.join(sorted(unknown))}")
    entries = data.get("subscriber", [])
    if not isinstance(entries, list):
        raise ConfigError(f"{path}: 'subscriber' must be an array of tables ([[subscriber]])")

    subscribers: list[Subscriber] = []
    seen: set[str] = set()
    for index, entry in enumerate(entries, start=1):
        label = entry.get("email", "?") if isinstance(entry, dict) else "?"
        try:
            sub = parse_entry(entry)
        except ValueError as exc:
            raise ConfigError(f"{path}: subscriber #{index} ({label}): {exc}") from None
        if sub.email in seen:
            raise ConfigError(f"{path}: subscriber #{index} ({label}): duplicate email")
        seen.add(sub.email)
        subscribers.append(sub)
    return fingerprint, subscribers
