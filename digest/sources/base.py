"""What a source is: something that answers for a window of listing days with papers and
its state now (`SourceState`: the validators of a conditional GET, what the feed said of
itself), which the run stores with the papers, in one transaction."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Protocol

from ..domain.paper import Paper
from ..domain.source import SourceState


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
