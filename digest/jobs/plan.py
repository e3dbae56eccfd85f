"""Who a run mails and over which days: the window, the week a weekly digest covers, the plan
of who receives mail today, and the subscribers to mail read a batch at a time."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import date, timedelta

from .. import store
from ..domain.subscriber import Subscriber, Subscription
from ..progress import Reporter
from ..settings import ScheduleSettings, Settings
from ..store import Database, Tx
from ..subscriptions.rules import due_weekly
from .roster import sync_file

BATCH = 200  # subscribers decided, composed and stored together, while earlier ones are sent


def window(schedule: ScheduleSettings, day: date | None) -> list[date]:
    """The listing days a run covers: `day`, or the lookback window ending today."""
    if day is not None:
        return [day]
    today = schedule.today()
    return [today - timedelta(days=i) for i in reversed(range(schedule.lookback_days))]


def week_of(day: date) -> list[date]:
    """The seven listing days a weekly digest sent on `day` covers."""
    return [day - timedelta(days=i) for i in reversed(range(7))]


def fetch_days(schedule: ScheduleSettings, db: Database, days: list[date]) -> list[date]:
    """The run's window, and the whole week when a weekly digest is due (so it covers days a
    stopped daemon did not fetch)."""
    with db.reading() as conn:
        weekly = store.subscribers.page(conn, weekly=True)
    due = due_weekly(weekly, days[-1], schedule.weekly_day)
    return sorted(set(days) | set(week_of(days[-1]))) if due else days


@dataclass(frozen=True)
class Plan:
    """Who gets mail in this run: daily subscribers, and weekly ones whose week is due. Held
    as counts and the (few) weekly addresses due; the subscribers themselves are read from
    the database a batch at a time (`batches`), so a long list is never all in memory."""

    receiving: int  # subscribers mailed in this run
    weekly: frozenset[str]  # the weekly subscribers due
    waiting: int  # weekly subscribers whose digest is not due yet
    suppressed: int
    suppressed_emails: frozenset[str]

    def mails(self, sub: Subscription) -> bool:
        return (
            sub.receiving
            and sub.email not in self.suppressed_emails
            and (not sub.weekly or sub.email in self.weekly)
        )


def plan(conn: Tx, settings: Settings, today: date, reporter: Reporter) -> Plan:
    """Import the subscriber file if it changed, then sort who is mailed today."""
    imported = sync_file(conn, settings.subscribers)
    if imported is not None:
        reporter.info(f"imported {settings.subscribers.path}: {imported.summary()}")
    suppressed = store.suppressions.suppressed(conn)
    daily, weekly = store.subscribers.receiving_counts(conn)
    held = [0, 0]  # receiving daily and weekly subscribers whose address is suppressed
    for email in suppressed:
        sub = store.subscribers.get(conn, email)
        if sub is not None and sub.receiving:
            held[sub.weekly] += 1
    weeklies = [s for s in store.subscribers.page(conn, weekly=True) if s.email not in suppressed]
    due = {s.email for s in due_weekly(weeklies, today, settings.schedule.weekly_day)}
    return Plan(
        receiving=daily - held[0] + len(due),
        weekly=frozenset(due),
        waiting=weekly - held[1] - len(due),
        suppressed=sum(held),
        suppressed_emails=frozenset(suppressed),
    )


@dataclass(frozen=True)
class Part:
    """The subscribers one worker process decides: addresses after `after` (from the
    start when None), up to `until` included (to the end when None)."""

    after: str | None = None
    until: str | None = None


WHOLE = Part()


def parts(conn: Tx, count: int) -> list[Part]:
    """The list cut, by address, into at most `count` parts of about equal length."""
    cuts = [None, *store.subscribers.boundaries(conn, count), None]
    return [Part(a, b) for a, b in itertools.pairwise(cuts)]


def batches(
    reading: Callable[[], AbstractContextManager[Tx]],
    who: Plan,
    stop: threading.Event | None = None,
    part: Part = WHOLE,
) -> Iterator[list[Subscriber]]:
    """The subscribers of `part` to mail, BATCH at a time, read from the database a page at
    a time (each through a connection from `reading`), until `stop` is set."""
    after = part.after
    batch: list[Subscriber] = []
    while not (stop is not None and stop.is_set()):
        with reading() as conn:
            page = store.subscribers.page(conn, after=after, limit=BATCH, until=part.until)
        if not page:
            break
        after = page[-1].email
        batch.extend(s.subscriber for s in page if who.mails(s))
        if len(batch) >= BATCH:
            yield batch
            batch = []
    if batch and not (stop is not None and stop.is_set()):
        yield batch


def span(days: Sequence[date]) -> str:
    """ "on 2025-11-06", or "from 2025-11-04 to 2025-11-06"."""
    return f"on {days[0]}" if len(days) == 1 else f"from {days[0]} to {days[-1]}"
