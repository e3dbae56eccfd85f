"""A paper as sources list it and the store keeps it, and the one key it has across versions,
re-listings and sources."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
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


_ARXIV_LINK = re.compile(
    r"^(?:https?://)?(?:www\.|export\.)?arxiv\.org/(?:abs|pdf)/(.+?)(?:\.pdf)?/?$"
)


def arxiv_ids(names: Iterable[str]) -> tuple[str, ...]:
    """Papers a reader names, as arXiv ids ("2401.12345", "arXiv:2401.12345v2", or an
    arxiv.org abs or pdf link), each once and without version; ValueError naming the first
    that is not one."""
    out: list[str] = []
    for name in names:
        link = _ARXIV_LINK.match(name.strip())
        found = arxiv_id(link.group(1) if link else name)
        if found is None:
            raise ValueError(f"{name!r} is not an arXiv id like 2401.12345")
        if found not in out:
            out.append(found)
    return tuple(out)


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
