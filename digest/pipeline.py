"""The daily job: fetch, store and diff, rank, compose, deliver; and the report it ends with."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from jinja2 import TemplateError
from sqlalchemy import Connection, Engine

from . import roster, store
from .compose import Composed, Composer
from .config import Settings
from .deliver import Transport, make_transport
from .lock import holder as lock_holder
from .lock import run_lock
from .models import Digest, Paper, Ranked, Subscriber
from .outbox import deliver
from .progress import Reporter, Silent
from .rank import Listing, Rarity, compile_profile, explain, rank, select
from .report import RunReport
from .sources import Source, SourceError, make_sources


@contextmanager
def opened(settings: Settings) -> Iterator[Engine]:
    """The configured database, disposed of on the way out."""
    engine = store.open_engine(settings.database_url)
    try:
        yield engine
    finally:
        engine.dispose()


def window(settings: Settings, day: date | None) -> list[date]:
    """The listing days a run covers: `day`, or the lookback window ending today."""
    if day is not None:
        return [day]
    today = datetime.now(settings.tz).date()
    return [today - timedelta(days=i) for i in reversed(range(settings.lookback_days))]


def fetch_all(
    sources: Sequence[Source], days: Sequence[date], report: RunReport, reporter: Reporter
) -> dict[str, list[Paper]]:
    """Each source's papers for every day, or nothing from a source that failed on any day."""
    fetched: dict[str, list[Paper]] = {}
    with reporter.steps("fetching listings", len(sources) * len(days)) as advance:
        for source in sources:
            papers: list[Paper] = []
            try:
                for day in days:
                    papers.extend(source.fetch(day))
                    advance()
            except SourceError as exc:
                report.source_failures.append(str(exc))
                reporter.error(str(exc))
                continue
            fetched[source.name] = papers
            report.fetched += len(papers)
    return fetched


@contextmanager
def collected(
    engine: Engine,
    settings: Settings,
    days: Sequence[date],
    report: RunReport,
    reporter: Reporter,
    *,
    commit: bool,
    sources: Sequence[Source] | None = None,
) -> Iterator[tuple[Connection, list[Paper]]]:
    """Fetch, store, and yield every paper listed in the window, inside one transaction that is
    committed only when `commit` (dry runs, previews and rankings roll it back)."""
    own_sources = sources is None
    sources = make_sources(settings) if sources is None else sources
    try:
        fetched = fetch_all(sources, days, report, reporter)
    finally:
        if own_sources:
            for s in sources:
                s.close()
    with engine.connect() as conn:
        tx = conn.begin()
        try:
            for name, papers in fetched.items():
                _, new = store.upsert_papers(conn, papers, name)
                report.new += new
            candidates = store.papers_listed(conn, days)
            yield conn, candidates
        except BaseException:
            tx.rollback()
            raise
        if commit:
            tx.commit()
        else:
            tx.rollback()


REFERENCE_PAPERS = 3000  # how many of the store's latest papers teach the ranker rarity


def listing_for(conn: Connection, candidates: Sequence[Paper]) -> tuple[Listing, Rarity]:
    """The candidates indexed once for every subscriber, and term rarity learned from the
    papers the store has seen (which include the candidates: the listing is stored first)."""
    listing = Listing(candidates)
    indexed = {i.paper.key: i for i in listing.indexed}
    reference = [indexed.get(p.key, p) for p in store.recent_papers(conn, REFERENCE_PAPERS)]
    return listing, Rarity(Listing(reference or listing.indexed))


def week_of(day: date) -> list[date]:
    """The seven listing days a weekly digest sent on `day` covers."""
    return [day - timedelta(days=i) for i in reversed(range(7))]


def decide(
    conn: Connection,
    subscribers: Sequence[Subscriber],
    listing: Listing,
    rarity: Rarity,
    day: date,
    *,
    since: date | None = None,
) -> list[Digest]:
    """Each subscriber's digest: what is new to them (not in their ledger), ranked, capped.
    What falls below the cap is passed over for good once the digest is accepted."""
    digests = []
    for sub in subscribers:
        profile = compile_profile(sub)
        chosen = select(profile, listing, rarity, skip=store.sent_keys(conn, sub.email))
        if chosen:
            top = [explain(listing, s) for s in chosen[: sub.max_papers]]
            passed = tuple(s.key for s in chosen[sub.max_papers :])
            digests.append(Digest(sub, day, top, passed_over=passed, since=since))
    return digests


@dataclass
class Plan:
    """Who gets mail in this run: daily subscribers, and weekly ones whose week is due."""

    daily: list[Subscriber]
    weekly: list[Subscriber]
    waiting: int  # weekly subscribers whose digest is not due yet
    suppressed: int

    @property
    def receiving(self) -> list[Subscriber]:
        return [*self.daily, *self.weekly]


def plan(conn: Connection, settings: Settings, today: date, reporter: Reporter) -> Plan:
    """Import the subscriber file if it changed, then sort who is mailed today."""
    imported = roster.sync_file(conn, settings.subscribers_path, settings.subscribers_required)
    if imported is not None:
        reporter.info(f"imported {settings.subscribers_path}: {imported.summary()}")
    suppressed = store.suppressed(conn)
    receiving = [m for m in roster.members(conn) if m.receiving]
    mailable = [m for m in receiving if m.email not in suppressed]
    weekly = sum(m.subscriber.frequency == "weekly" for m in mailable)
    due = [m.subscriber for m in roster.due_weekly(mailable, today, settings.weekly_day)]
    return Plan(
        daily=[m.subscriber for m in mailable if m.subscriber.frequency == "daily"],
        weekly=due,
        waiting=weekly - len(due),
        suppressed=len(receiving) - len(mailable),
    )


def decide_all(conn: Connection, who: Plan, days: Sequence[date]) -> list[Digest]:
    """Daily digests over the run's window, weekly ones over the week ending its last day."""
    today = days[-1]
    listing, rarity = listing_for(conn, store.papers_listed(conn, days))
    digests = decide(conn, who.daily, listing, rarity, today)
    if who.weekly:
        week = week_of(today)
        weekly = Listing(store.papers_listed(conn, week))
        digests += decide(conn, who.weekly, weekly, rarity, today, since=week[0])
    return digests


def fetch_days(settings: Settings, engine: Engine, days: list[date]) -> list[date]:
    """The run's window, and the whole week when a weekly digest is due (so it covers days a
    stopped daemon did not fetch)."""
    with engine.connect() as conn:
        due = roster.due_weekly(roster.members(conn), days[-1], settings.weekly_day)
    return sorted(set(days) | set(week_of(days[-1]))) if due else days


def compose_all(
    composer: Composer, digests: Sequence[Digest], report: RunReport, reporter: Reporter
) -> Iterator[Composed]:
    """Compose each digest; one that cannot be composed is reported and skipped, its papers
    left unclaimed, and the others still go out."""
    with reporter.steps("composing", len(digests)) as advance:
        for d in digests:
            try:
                yield composer.compose(d)
            except (TemplateError, ValueError) as exc:
                problem = f"{d.subscriber.email}: cannot compose the digest: {exc}"
                report.compose_errors.append(problem)
                reporter.error(problem)
            advance()


def run(
    settings: Settings,
    day: date | None = None,
    *,
    dry_run: bool = False,
    reporter: Reporter | None = None,
    sources: Sequence[Source] | None = None,
    transport: Transport | None = None,
    stop: threading.Event | None = None,
) -> RunReport:
    """The main job: decide and store every digest in the outbox, then deliver the outbox.

    Raises ConfigError for unusable settings or subscriber file, Busy when another run holds
    the lock; in both cases nothing was done.
    """
    started = time.monotonic()
    reporter = reporter or Silent()
    days = window(settings, day)
    report = RunReport(days=days, dry_run=dry_run)
    roster.read_file(settings.subscribers_path, settings.subscribers_required)
    composer = Composer(settings)
    transport = transport or make_transport(settings)
    report.destination = transport.describe()
    with contextlib.ExitStack() as stack:
        if not dry_run:
            stack.enter_context(run_lock(settings.database_url))
        engine = stack.enter_context(opened(settings))
        if dry_run:
            _dry_run(engine, settings, composer, report, reporter, sources)
        else:
            _run(engine, settings, composer, transport, report, reporter, sources, stop)
    report.seconds = round(time.monotonic() - started, 3)
    return report


def _run(
    engine: Engine,
    settings: Settings,
    composer: Composer,
    transport: Transport,
    report: RunReport,
    reporter: Reporter,
    sources: Sequence[Source] | None,
    stop: threading.Event | None,
) -> None:
    started = time.monotonic()
    days = report.days
    fetching = fetch_days(settings, engine, days)
    with engine.begin() as conn:
        run_id = store.start_run(conn, days)
    status = "failed"
    try:
        with collected(
            engine, settings, fetching, report, reporter, commit=True, sources=sources
        ) as (conn, candidates):
            who = plan(conn, settings, days[-1], reporter)
            cancelled = store.cancel_pending_except(conn, {s.email for s in who.receiving})
            if cancelled:
                reporter.info(f"cancelled pending mail to {cancelled} former subscriber(s)")
            report.earlier = store.count_messages(conn, store.PENDING)
            digests = decide_all(conn, who, days)
            roster.mark_weekly(conn, [s.email for s in who.weekly], days[-1])
            _announce(candidates, who, digests, report, reporter)
            for c in compose_all(composer, digests, report, reporter):
                store.record_pending(conn, c.digest, c.subject, c.raw, run_id)
        if report.earlier:
            reporter.info(f"{report.earlier} message(s) pending from earlier runs go out too")
        deliver(engine, transport, settings, report, reporter, stop=stop)
        status = "ok" if report.ok else "failed"
    finally:
        with engine.begin() as conn:
            store.finish_run(
                conn,
                run_id,
                status,
                fetched=report.fetched,
                new=report.new,
                mailed=report.mailed,
                sent=report.sent,
                failed=report.failed,
                seconds=round(time.monotonic() - started, 3),
                detail="\n".join(report.problems),
            )


def _dry_run(
    engine: Engine,
    settings: Settings,
    composer: Composer,
    report: RunReport,
    reporter: Reporter,
    sources: Sequence[Source] | None,
) -> None:
    days = report.days
    fetching = fetch_days(settings, engine, days)
    with collected(engine, settings, fetching, report, reporter, commit=False, sources=sources) as (
        conn,
        candidates,
    ):
        who = plan(conn, settings, days[-1], reporter)
        report.earlier = store.count_messages(conn, store.PENDING)
        digests = decide_all(conn, who, days)
    _announce(candidates, who, digests, report, reporter)
    for c in compose_all(composer, digests, report, reporter):
        reporter.info(f"would send to {c.digest.subscriber.email}: {c.subject}")
    if report.earlier:
        reporter.info(f"{report.earlier} message(s) pending from earlier runs would go out too")


def _announce(
    candidates: Sequence[Paper],
    who: Plan,
    digests: Sequence[Digest],
    report: RunReport,
    reporter: Reporter,
) -> None:
    report.subscribers = len(who.receiving)
    report.suppressed = who.suppressed
    report.mailed = len(digests)
    reporter.info(
        f"{len(candidates)} papers listed {_span(report.days)}; "
        f"{len(digests)} of {len(who.receiving)} subscribers have new matches"
    )
    if who.waiting:
        reporter.info(f"{who.waiting} weekly subscriber(s) wait for their day")
    if not who.receiving:
        reporter.info(
            "no subscribers yet: `digest subscribers add`, a subscriber file, "
            "or the subscribe page of `digest serve`"
        )
    mailed = {d.subscriber.email for d in digests}
    for sub in who.receiving:
        if sub.email not in mailed:
            reporter.info(f"{sub.email}: no new matches, no email")


def _span(days: Sequence[date]) -> str:
    return f"on {days[0]}" if len(days) == 1 else f"from {days[0]} to {days[-1]}"


def find_subscriber(settings: Settings, email: str) -> Subscriber:
    """The subscriber as the next run would see them (the file imported, then undone)."""
    with opened(settings) as engine, engine.connect() as conn:
        tx = conn.begin()
        try:
            roster.sync_file(conn, settings.subscribers_path, settings.subscribers_required)
            return roster.require(roster.get(conn, email.strip().lower()), email).subscriber
        finally:
            tx.rollback()


@contextmanager
def snapshot(
    settings: Settings,
    day: date | None,
    *,
    commit: bool = False,
    reporter: Reporter | None = None,
    sources: Sequence[Source] | None = None,
) -> Iterator[tuple[RunReport, Connection, list[Paper]]]:
    """The window's listing as the store would hold it after a fetch; kept only if `commit`."""
    days = window(settings, day)
    report = RunReport(days=days, dry_run=not commit)
    with (
        opened(settings) as engine,
        collected(
            engine, settings, days, report, reporter or Silent(), commit=commit, sources=sources
        ) as (conn, candidates),
    ):
        yield report, conn, candidates


def ranking(
    settings: Settings,
    email: str,
    day: date | None = None,
    *,
    reporter: Reporter | None = None,
    sources: Sequence[Source] | None = None,
) -> tuple[RunReport, list[Ranked]]:
    """How `email`'s profile ranks the window's listing, ignoring what was already sent.
    Changes no state."""
    profile = compile_profile(find_subscriber(settings, email))
    with snapshot(settings, day, reporter=reporter, sources=sources) as (report, conn, candidates):
        ranked = rank(profile, *listing_for(conn, candidates))
    return report, ranked


def preview(
    settings: Settings,
    email: str,
    day: date | None = None,
    *,
    reporter: Reporter | None = None,
    sources: Sequence[Source] | None = None,
) -> tuple[RunReport, Composed | None]:
    """The message `email` would get from a run now, composed but neither sent nor recorded."""
    sub = find_subscriber(settings, email)
    with snapshot(settings, day, reporter=reporter, sources=sources) as (report, conn, candidates):
        today = report.days[-1]
        since = week_of(today)[0] if sub.frequency == "weekly" else None
        if since is not None:
            candidates = store.papers_listed(conn, week_of(today))
        digests = decide(conn, [sub], *listing_for(conn, candidates), today, since=since)
    report.mailed = len(digests)
    return report, (Composer(settings).compose(digests[0]) if digests else None)


def fetch(
    settings: Settings,
    day: date | None = None,
    *,
    reporter: Reporter | None = None,
    sources: Sequence[Source] | None = None,
) -> RunReport:
    """Fetch and store only (holding the run lock, as it writes)."""
    with (
        run_lock(settings.database_url, "fetch"),
        snapshot(settings, day, commit=True, reporter=reporter, sources=sources) as (report, _, _),
    ):
        return report


@dataclass(frozen=True)
class Status:
    runs: list[Any]
    pending: tuple[int, list[Any]]
    failed: tuple[int, list[Any]]
    suppressed: list[Any]
    lock_holder: str | None  # who is running now; a 'running' row nobody holds has died


def status(settings: Settings, *, runs: int = 10) -> Status:
    """What an operator checks: the last runs, the outbox, suppressed addresses. Read-only."""
    with opened(settings) as engine, engine.connect() as conn:
        return Status(
            runs=store.recent_runs(conn, runs),
            pending=store.messages_in(conn, store.PENDING),
            failed=store.messages_in(conn, store.FAILED),
            suppressed=store.suppression_rows(conn),
            lock_holder=lock_holder(settings.database_url),
        )


def enable(settings: Settings, email: str) -> bool:
    """Re-enable a suppressed address; False if it was not suppressed."""
    with opened(settings) as engine, engine.begin() as conn:
        return store.unsuppress(conn, email.strip().lower())
