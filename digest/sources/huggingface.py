"""Hugging Face Daily Papers: `GET {api}/daily_papers?date=D&limit=L&p=P`, paged, retried."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import quote

import httpx

from ..domain.paper import Paper, arxiv_id, canonical_key, http_url
from ..domain.source import SourceState
from ..domain.text import one_line
from ..errors import SourceError
from .base import Fetched, by_day
from .http import Fetcher

NAME = "huggingface"
PAGE_URL = "https://huggingface.co/papers/{id}"
PDF_URL = "https://arxiv.org/pdf/{id}"


COUNT_MAX = 2**31 - 1  # upvotes, stars: what a count can be (and the store's column holds)


def _text(obj: dict[str, Any], key: str, where: str, required: bool = False) -> str | None:
    value = obj.get(key)
    if value is None or value == "":
        if required:
            raise ValueError(f"{where}: missing '{key}'")
        return None
    if not isinstance(value, str):
        raise ValueError(f"{where}: '{key}' should be a string, got {type(value).__name__}")
    return _valid(value, f"{where}: '{key}'")


def _valid(value: str, what: str) -> str:
    """Text that can be stored and mailed: JSON allows lone UTF-16 surrogates ("\\ud800"),
    which no UTF-8 text holds."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError(f"{what} is not valid text (a lone surrogate)") from None
    return value


def _int(obj: dict[str, Any], key: str, where: str) -> int | None:
    value = obj.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{where}: '{key}' should be a number, got {str(value)[:40]}")
    if not 0 <= value <= COUNT_MAX:
        raise ValueError(f"{where}: '{key}' is out of range ({str(value)[:40]})")
    return value


def _when(raw: str | None, where: str) -> datetime | None:
    """An ISO timestamp, in UTC (one without an offset is UTC's, as the API's are)."""
    if raw is None:
        return None
    try:
        when = datetime.fromisoformat(raw.replace("Z", "+00:00"))
        return (when if when.tzinfo else when.replace(tzinfo=UTC)).astimezone(UTC)
    except ValueError:
        raise ValueError(f"{where}: {raw!r} is not an ISO timestamp") from None
    except OverflowError:
        raise ValueError(f"{where}: {raw!r} is out of range") from None


def _org(obj: Any) -> str | None:
    if isinstance(obj, dict):
        name = obj.get("fullname") or obj.get("name")
        if isinstance(name, str) and name.strip():
            return one_line(_valid(name, "'organization'"))
    return None


def parse_item(item: Any, listed_on: date, where: str) -> Paper:
    """One listing item into a Paper; ValueError naming the offending field otherwise."""
    if not isinstance(item, dict):
        raise ValueError(f"{where}: expected an object, got {type(item).__name__}")
    paper = item.get("paper")
    if not isinstance(paper, dict):
        raise ValueError(f"{where}: missing 'paper' object")
    pid = _text(paper, "id", f"{where}.paper", required=True)
    assert pid is not None
    if not pid.isprintable() or pid != pid.strip():
        raise ValueError(f"{where}.paper: 'id' {pid[:40]!r} is not an id")
    title = one_line(_text(paper, "title", f"{where}.paper") or _text(item, "title", where) or "")
    if not title:
        raise ValueError(f"{where} ({pid}): missing 'title'")
    abstract = _text(paper, "summary", f"{where}.paper") or _text(item, "summary", where) or ""

    raw_authors = paper.get("authors", [])
    if not isinstance(raw_authors, list):
        raise ValueError(f"{where} ({pid}): 'authors' should be a list")
    named = (
        one_line(_valid(a["name"], f"{where} ({pid}): an author's name"))
        for a in raw_authors
        if isinstance(a, dict) and isinstance(a.get("name"), str)
    )
    authors = tuple(n for n in named if n)
    keywords = paper.get("ai_keywords") or []
    if not isinstance(keywords, list) or not all(isinstance(k, str) for k in keywords):
        raise ValueError(f"{where} ({pid}): 'ai_keywords' should be a list of strings")
    for k in keywords:
        _valid(k, f"{where} ({pid}): a keyword")

    aid = arxiv_id(pid)
    return Paper(
        key=canonical_key(pid, title),
        source=NAME,
        source_id=pid,
        title=title,
        abstract=one_line(abstract),
        authors=authors,
        published_at=_when(_text(paper, "publishedAt", f"{where}.paper"), f"{where}.paper"),
        listed_on=listed_on,
        upvotes=_int(paper, "upvotes", f"{where}.paper"),
        url=PAGE_URL.format(id=quote(pid, safe="")),
        pdf_url=PDF_URL.format(id=aid) if aid else None,
        code_url=http_url(_text(paper, "githubRepo", f"{where}.paper")),
        project_url=http_url(_text(paper, "projectPage", f"{where}.paper")),
        organization=_org(paper.get("organization")) or _org(item.get("organization")),
        ai_keywords=tuple(one_line(k) for k in keywords if k.strip()),
        ai_summary=one_line(_text(paper, "ai_summary", f"{where}.paper") or "") or None,
        github_stars=_int(paper, "githubStars", f"{where}.paper"),
    )


def parse_listing(data: Any, listed_on: date, source: str, where: str) -> list[Paper]:
    """A whole listing page; SourceError with the first offending item if any is malformed."""
    if not isinstance(data, list):
        raise SourceError(
            source, where, f"expected a JSON list of papers, got {type(data).__name__}"
        )
    papers = []
    for index, item in enumerate(data):
        try:
            papers.append(parse_item(item, listed_on, f"item #{index}"))
        except ValueError as exc:
            raise SourceError(source, where, f"unexpected schema: {exc}") from None
    return papers


class HuggingFaceSource:
    name = NAME

    def __init__(
        self,
        api_url: str,
        *,
        page_size: int = 100,
        max_pages: int = 20,
        timeout: float = 20.0,
        attempts: int = 4,
        backoff: float = 1.0,
        max_wait: float = 60.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.api_url = api_url.rstrip("/")
        self.page_size = page_size
        self.max_pages = max_pages
        self.http = Fetcher(
            NAME,
            accept="application/json",
            timeout=timeout,
            attempts=attempts,
            backoff=backoff,
            max_wait=max_wait,
            transport=transport,
        )

    def close(self) -> None:
        self.http.close()

    def _get(self, url: httpx.URL) -> Any:
        resp = self.http.get(url)
        try:
            return resp.json()
        except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError, an integer too long
            raise SourceError(
                self.name, str(url), f"malformed payload, not JSON ({exc}); truncated?"
            ) from None
        except RecursionError:
            raise SourceError(self.name, str(url), "a JSON payload nested too deeply") from None

    def fetch_window(self, days: Sequence[date], known: SourceState) -> Fetched:
        return by_day(self.fetch, days, known)

    def fetch(self, day: date) -> list[Paper]:
        by_key: dict[str, Paper] = {}
        for page in range(self.max_pages):
            url = httpx.URL(
                f"{self.api_url}/daily_papers",
                params={"date": day.isoformat(), "limit": self.page_size, "p": page},
            )
            data = self._get(url)
            for paper in parse_listing(data, day, self.name, str(url)):
                by_key.setdefault(paper.key, paper)
            if len(data) < self.page_size:
                return list(by_key.values())
        raise SourceError(
            self.name,
            f"{self.api_url}/daily_papers?date={day}",
            f"more than {self.max_pages} pages of {self.page_size}; refusing to page further",
        )
