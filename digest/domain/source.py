"""What a run learned of a source, kept for the next run: the validators of a conditional GET,
and what the feed said of itself, so a feed that stopped moving is noticed (`freshness`)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta


@dataclass(frozen=True, slots=True)
class SourceState:
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
        """This state after the source answered for `days`, listing papers on `listed`. A
        day after tomorrow (a feed's wrong date, a run's --date in the future) moves neither
        mark, or the stale warning would stay quiet until that day."""
        latest = at.date() + timedelta(days=1)  # a day ahead: time zones
        newest = max((d for d in listed if d <= latest), default=None)
        through = max((d for d in days if d <= latest), default=None)
        return dataclasses.replace(
            self,
            last_listed=_latest(self.last_listed, newest),
            first_checked=self.first_checked or min((d for d in days if d <= latest), default=None),
            checked_through=_latest(self.checked_through, through),
            checked_at=at,
            last_error=None,
            failed_at=None,
        )

    def failed(self, error: str, at: datetime) -> SourceState:
        """This state after the source failed: what went wrong and when, the rest kept."""
        return dataclasses.replace(self, last_error=error, failed_at=at)

    @property
    def failing(self) -> bool:
        """Its last attempt failed (an answer since then clears it)."""
        return bool(self.last_error) and (
            self.checked_at is None
            or (self.failed_at is not None and self.failed_at > self.checked_at)
        )


def _latest(a: date | None, b: date | None) -> date | None:
    return max((d for d in (a, b) if d is not None), default=None)
