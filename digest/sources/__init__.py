"""Sources turn a window of listing days into Paper records; each failure names source and URL.

A source also keeps a little state between runs (`SourceState`, stored by the run in the same
transaction as the papers): the validators of a conditional GET, and what the feed said of
itself, so a feed that stopped moving is noticed (`freshness.py`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Protocol

from ..config import Settings
from ..models import Paper


class SourceError(Exception):
    """A source could not deliver a listing: what failed, where, and why."""

    def __init__(self, source: str, where: str, problem: str) -> None:
        super().__init__(f"{source}: {where}: {problem}")
        self.source = source
        self.where = where
        self.problem = problem


@dataclass(frozen=True, slots=True)
class SourceState:
    """What a run learned of a source, kept for the next run."""

    name: str
    url: str | None = None  # the feed the validators belong to
    etag: str | None = None
    last_modified: str | None = None
    built_at: datetime | None = None  # the feed's own build date, when it states one
    last_listed: date | None = None  # the newest day it listed at least one paper
    first_checked: date | None = None  # the first listing day it was asked for
    checked_through: date | None = None  # the newest listing day it answered for
    checked_at: datetime | None = None
    last_error: str | None = None
    failed_at: datetime | None = None

    def answered(self, days: Sequence[date], listed: Sequence[date], at: datetime) -> SourceState:
        """This state after the source answered for `days`, listing papers on `listed`."""
        newest = max(listed, default=None)
        return dataclasses.replace(
            self,
            last_listed=_latest(self.last_listed, newest),
            first_checked=self.first_checked or min(days, default=None),
            checked_through=_latest(self.checked_through, max(days, default=None)),
            checked_at=at,
            last_error=None,
            failed_at=None,
        )


def _latest(a: date | None, b: date | None) -> date | None:
    return max((d for d in (a, b) if d is not None), default=None)


@dataclass
class Fetched:
    """A source's answer for a window: its papers, its state now, and what the operator should
    hear about it (an unchanged feed, an empty announcement)."""

    papers: list[Paper]
    state: SourceState
    notes: list[str] = field(default_factory=list)


class Source(Protocol):
    name: str

    def fetch_window(self, days: Sequence[date], known: SourceState) -> Fetched:
        """Every paper listed on `days` (as far as the source can tell); SourceError on failure."""
        ...

    def close(self) -> None: ...


def by_day(
    name: str,
    fetch: Callable[[date], list[Paper]],
    days: Sequence[date],
    known: SourceState,
) -> Fetched:
    """A window fetched a day at a time, for sources whose listings are addressed by day."""
    papers: list[Paper] = []
    listed: list[date] = []
    for day in days:
        found = fetch(day)
        if found:
            listed.append(day)
        papers.extend(found)
    return Fetched(papers, known.answered(days, listed, datetime.now(UTC)))


def make_sources(settings: Settings) -> Sequence[Source]:
    from .arxiv import ArxivSource
    from .huggingface import HuggingFaceSource
    from .sample import SampleSource

    made: list[Source] = []
    for name in settings.sources:
        if name == "huggingface":
            made.append(HuggingFaceSource(settings.hf_api_url))
        elif name == "arxiv":
            made.append(
                ArxivSource(
                    settings.arxiv_rss_url,
                    settings.arxiv_categories,
                    cross_lists=settings.arxiv_cross_lists,
                )
            )
        elif name == "sample":
            made.append(SampleSource())
    return made
