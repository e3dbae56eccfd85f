"""arXiv's daily announcement feed: `GET {DIGEST_ARXIV_RSS_URL}/cs.LG+cs.AI`, RSS or Atom.

The feed holds one announcement: the papers arXiv announced last (none on weekends and arXiv
holidays). Items are `new` submissions, `cross`-lists from other categories, and replacements
(`replace`, `replace-cross`), which are new versions of old papers and never new papers here.
Requests to arXiv are spaced three seconds apart (its terms of use), and a feed is fetched
with its last ETag and Last-Modified, so an unchanged feed is a 304 and costs nothing.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import feedparser
import httpx

from ..domain.paper import Paper, arxiv_id, canonical_key, http_url
from ..domain.source import SourceState
from ..domain.text import one_line
from ..errors import SourceError
from ..pace import Pace
from .base import Fetched
from .http import Fetcher

NAME = "arxiv"
ABS_URL = "https://arxiv.org/abs/{id}"
PDF_URL = "https://arxiv.org/pdf/{id}"
FEED_LIMIT = 2000  # items a feed holds at most; a full combined feed is asked for per category
INTERVAL = 3.0  # seconds between requests to arXiv hosts
# One pace for every arXiv source in the process, so the daemon's runs share it too.
PACE = Pace(INTERVAL)
NEW, CROSS = "new", "cross"
REPLACEMENTS = ("replace", "replace-cross")
_ANNOUNCE = re.compile(r"^\s*arXiv:\S+\s+Announce Type:\s*(\S+)\s*(?:Abstract:\s*)?", re.I)
_AUTHORS = re.compile(r"\s*,\s*(?:and\s+)?|\s+and\s+")
_ERROR_TITLE = "feed error for query"


@dataclass
class Announcement:
    """One feed, read: the day it announces, when it was built, and its papers by kind."""

    day: date
    built_at: datetime | None
    entries: int  # items of any kind: an empty announcement has none
    new: list[Paper]
    cross: list[Paper]
    replaced: int


def _when(raw: Any) -> datetime | None:
    """An RFC 822 (RSS) or ISO 8601 (Atom) date, with its own offset kept: the day of
    "Thu, 06 Nov 2025 00:00:00 -0500" is the 6th, as arXiv means it."""
    if not isinstance(raw, str) or not raw.strip():
        return None
    try:
        when = parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        try:
            when = datetime.fromisoformat(raw.strip().replace("Z", "+00:00"))
        except ValueError:
            return None
    when = when if when.tzinfo else when.replace(tzinfo=UTC)
    try:
        when.astimezone(UTC)
    except OverflowError:  # "9999-12-31T23:59:59-23:59": no day a paper was listed
        return None
    return when


def _authors(entry: Any) -> tuple[str, ...]:
    """arXiv writes every author in one dc:creator ("A, B and C"); Atom may list them."""
    names = [a.get("name", "") for a in entry.get("authors", []) if isinstance(a, dict)]
    if len(names) == 1:
        names = _AUTHORS.split(names[0])
    return tuple(n for n in map(one_line, names) if n)


def parse_entry(entry: Any, day: date | None, where: str) -> tuple[str, Paper]:
    """One item: its announce type and the paper (listed on `day`); ValueError naming what
    is missing."""
    summary = entry.get("summary", "") or ""
    m = _ANNOUNCE.match(summary)
    kind = (entry.get("arxiv_announce_type") or (m.group(1) if m else NEW)).strip().lower()
    raw_id = str(entry.get("id", "")).removeprefix("oai:arXiv.org:")
    aid = arxiv_id(raw_id)
    if aid is None:
        link = str(entry.get("link", ""))
        aid = arxiv_id(link.rsplit("/abs/", 1)[-1]) if "/abs/" in link else None
        raw_id = aid or raw_id
    if aid is None:
        raise ValueError(f"{where}: no arXiv id in {entry.get('id')!r}")
    title = one_line(entry.get("title", "") or "")
    if not title:
        raise ValueError(f"{where} ({aid}): missing title")
    categories = tuple(
        dict.fromkeys(
            t for t in (one_line(str(tag.get("term", ""))) for tag in entry.get("tags", [])) if t
        )
    )
    published = _when(entry.get("published") or entry.get("updated"))
    try:  # a character reference may name a lone surrogate, which no UTF-8 text holds
        "".join((title, summary, *map(str, categories))).encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError(f"{where} ({aid}): not valid text (a lone surrogate)") from None
    return kind, Paper(
        key=canonical_key(aid, title),
        source=NAME,
        source_id=raw_id,
        title=title,
        abstract=one_line(summary[m.end() :] if m else summary),
        authors=_authors(entry),
        published_at=published,
        listed_on=day,
        url=http_url(entry.get("link")) or ABS_URL.format(id=aid),
        pdf_url=PDF_URL.format(id=aid),
        categories=categories,
    )


def read_feed(body: bytes, where: str) -> Any:
    """feedparser's reading of `body`; SourceError where feedparser itself gives up (a
    character reference to a lone surrogate, a document nested beyond its recursion)."""
    try:
        return feedparser.parse(body, sanitize_html=False, resolve_relative_uris=False)
    except (UnicodeError, ValueError, RecursionError, OverflowError) as exc:
        raise SourceError(NAME, where, f"unreadable feed ({type(exc).__name__})") from None


def parse_feed(body: bytes, where: str, *, today: date) -> Announcement:
    """A whole feed, or SourceError: not a feed, truncated, arXiv's error document for an
    unknown category, or an item without an id. Items are plain text, never HTML."""
    # Unsanitized: arXiv's titles and abstracts are text, and feedparser's HTML sanitizer
    # would eat "$k<n$ and $n>m$" as a tag. The templates escape everything.
    feed = read_feed(body, where)
    problem = feed.get("bozo_exception")
    if feed.get("bozo") and not isinstance(problem, feedparser.CharacterEncodingOverride):
        raise SourceError(NAME, where, f"malformed feed ({problem}); truncated?")
    if not feed.get("version"):
        raise SourceError(NAME, where, "not an RSS or Atom feed")
    title = one_line(feed.feed.get("title", "") or "")
    if title.lower().startswith(_ERROR_TITLE):
        raise SourceError(NAME, where, f"arXiv answered {title!r}: check DIGEST_ARXIV_CATEGORIES")
    announced = _when(feed.feed.get("published") or feed.feed.get("updated"))
    built = _when(feed.feed.get("updated") or feed.feed.get("published"))
    entries = feed.get("entries", [])
    if announced is None:
        dates = [d for d in (_when(e.get("published")) for e in entries) if d]
        announced = max(dates, default=None)
    day = announced.date() if announced else today
    out = Announcement(day, built, len(entries), [], [], 0)
    for index, entry in enumerate(entries):
        try:
            kind, paper = parse_entry(entry, day, f"item #{index}")
        except ValueError as exc:
            raise SourceError(NAME, where, f"unexpected item: {exc}") from None
        if kind == NEW:
            out.new.append(paper)
        elif kind == CROSS:
            out.cross.append(paper)
        elif kind in REPLACEMENTS:
            out.replaced += 1
    return out


class ArxivSource:
    name = NAME

    def __init__(
        self,
        rss_url: str,
        categories: Sequence[str],
        *,
        cross_lists: bool = False,
        timeout: float = 30.0,
        attempts: int = 4,
        backoff: float = 3.0,
        max_wait: float = 120.0,
        pace: Pace = PACE,
        feed_limit: int = FEED_LIMIT,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if not categories:
            raise ValueError("the arXiv source needs at least one category")
        self.rss_url = rss_url.rstrip("/")
        self.categories = tuple(categories)
        self.cross_lists = cross_lists
        self.feed_limit = feed_limit
        self.http = Fetcher(
            NAME,
            accept="application/rss+xml, application/atom+xml, application/xml;q=0.9",
            timeout=timeout,
            attempts=attempts,
            backoff=backoff,
            max_wait=max_wait,
            pace=pace,
            transport=transport,
        )

    @property
    def url(self) -> str:
        return self.feed_url(self.categories)

    def feed_url(self, categories: Sequence[str]) -> str:
        return f"{self.rss_url}/{'+'.join(categories)}"

    def close(self) -> None:
        self.http.close()

    def fetch_window(self, days: Sequence[date], known: SourceState) -> Fetched:
        """The feed's announcement, whichever day it is: the feed holds no other. Its papers
        are listed on the day arXiv announced them, and a run covers those in its window."""
        url = self.url
        now = datetime.now(UTC)
        headers = {}
        if known.url == url:
            if known.etag:
                headers["If-None-Match"] = known.etag
            if known.last_modified:
                headers["If-Modified-Since"] = known.last_modified
        resp = self.http.get(url, headers)
        if resp.status_code == 304:
            since = f" (built {known.built_at:%Y-%m-%d %H:%M} UTC)" if known.built_at else ""
            state = dataclasses.replace(known, checked_at=now, last_error=None, failed_at=None)
            return Fetched([], state, [f"{NAME}: feed unchanged since the last fetch{since}"])
        today = max(days, default=now.date())
        feed = parse_feed(resp.content, url, today=today)
        if feed.entries >= self.feed_limit and len(self.categories) > 1:
            feed = self._per_category(feed, today)
        papers = _unique(feed.new + (feed.cross if self.cross_lists else []))
        announced = [feed.day]
        state = dataclasses.replace(
            known,
            url=url,
            etag=resp.headers.get("etag"),
            last_modified=resp.headers.get("last-modified"),
            built_at=_utc(feed.built_at) or known.built_at,
        ).answered(announced, announced if feed.entries else [], now)
        return Fetched(papers, state, self._notes(feed, days))

    def _per_category(self, combined: Announcement, today: date) -> Announcement:
        """The combined feed was full: each category on its own (spaced like every request),
        so no paper is cut off by the limit."""
        out = Announcement(combined.day, combined.built_at, 0, [], [], 0)
        for category in self.categories:
            url = self.feed_url([category])
            one = parse_feed(self.http.get(url).content, url, today=today)
            if one.entries >= self.feed_limit:
                raise SourceError(
                    NAME, url, f"the feed is full ({self.feed_limit} items): papers would be missed"
                )
            out.entries += one.entries
            out.new += one.new
            out.cross += one.cross
            out.replaced += one.replaced
        return out

    def _notes(self, feed: Announcement, days: Sequence[date]) -> list[str]:
        cats = "+".join(self.categories)
        if not feed.entries:
            return [
                f"{NAME}: no announcement in {cats} for {feed.day:%a %Y-%m-%d} "
                "(there is none on weekends and arXiv holidays)"
            ]
        cross = (
            f"{len(feed.cross)} cross-lists"
            if self.cross_lists
            else f"{len(feed.cross)} cross-lists skipped (DIGEST_ARXIV_CROSS_LISTS=false)"
        )
        notes = [
            f"{NAME}: announcement of {feed.day} in {cats}: {len(feed.new)} new, {cross}, "
            f"{feed.replaced} replacements skipped"
        ]
        if days and feed.day not in days:
            notes.append(
                f"{NAME}: the feed holds only the announcement of {feed.day}, outside this "
                f"run's days ({days[0]} to {days[-1]}); its papers are kept for the run that "
                "covers that day"
            )
        return notes


def _unique(papers: list[Paper]) -> list[Paper]:
    """Each paper once (a combined feed, or feeds asked for one category at a time, may list a
    paper twice); its new announcement before its cross-list."""
    by_key: dict[str, Paper] = {}
    for p in papers:
        by_key.setdefault(p.key, p)
    return list(by_key.values())


def _utc(when: datetime | None) -> datetime | None:
    return when.astimezone(UTC) if when else None
