"""The daily job: fetch, store and diff, rank, compose, deliver; and the report it ends with."""

from __future__ import annotations

import contextlib
import itertools
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

from jinja2 import TemplateError
from sqlalchemy import Connection, Engine

from . import roster, store
from .compose import Composed, Composer
from .config import Settings
from .deliver import make_transport
from .freshness import stale
from .lock import holder as lock_holder
from .lock import run_lock
from .models import Digest, Paper, Ranked, Subscriber
from .outbox import Item, deliver
from .progress import Advance, Reporter, Silent
from .rank import Listing, Rarity, choose, compile_profile, explain, rank
from .report import RunReport
from .sources import Fetched, Source, SourceError, SourceState, make_sources


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
    sources: Sequence[Source],
    days: Sequence[date],
    known: Mapping[str, SourceState],
    report: RunReport,
    reporter: Reporter,
) -> tuple[dict[str, Fetched], list[SourceState]]:
    """Each source's answer for the window, and the state of those that failed (a failed
    source contributes nothing, not part of its listing)."""
    fetched: dict[str, Fetched] = {}
    failed: list[SourceState] = []
    with reporter.steps("fetching listings", len(sources)) as advance:
        for source in sources:
            state = known.get(source.name) or SourceState(source.name)
            try:
                got = source.fetch_window(days, state)
            except SourceError as exc:
                report.source_failures.append(str(exc))
                reporter.error(str(exc))
                failed.append(replace(state, last_error=str(exc), failed_at=datetime.now(UTC)))
                continue
            finally:
                advance()
            for note in got.notes:
                reporter.info(note)
            fetched[source.name] = got
            report.fetched += len(got.papers)
    return fetched, failed


def check_freshness(
    states: Sequence[SourceState], today: date, report: RunReport, reporter: Reporter
) -> None:
    for state in states:
        why = stale(state, today)
        if why:
            report.stale.append((state.name, why))
            reporter.warn(f"{state.name} looks stale: {why}")


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
    committed only when `commit` (dry runs, previews and rankings roll it back). What the
    sources learned (validators, build dates) is stored in the same transaction, so a rolled
    back fetch is fetched again in full."""
    own_sources = sources is None
    sources = make_sources(settings) if sources is None else sources
    with engine.connect() as conn:
        known = {s.name: store.source_state(conn, s.name) for s in sources}
    try:
        fetched, failed = fetch_all(sources, days, known, report, reporter)
    finally:
        if own_sources:
            for s in sources:
                s.close()
    with engine.connect() as conn:
        tx = conn.begin()
        try:
            for name, got in fetched.items():
                _, new = store.upsert_papers(conn, got.papers, name)
                report.new += new
                store.save_source_state(conn, got.state)
            for state in failed:
                store.save_source_state(conn, state)
            check_freshness(
                [got.state for got in fetched.values()],
                datetime.now(settings.tz).date(),
                report,
                reporter,
            )
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
    sent = store.sent_keys(conn, [s.email for s in subscribers])
    for sub in subscribers:
        top, rest = choose(compile_profile(sub), listing, rarity, sent[sub.email], sub.max_papers)
        if top:
            papers = [explain(listing, s) for s in top]
            digests.append(Digest(sub, day, papers, passed_over=tuple(rest), since=since))
    return digests


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

    def mails(self, member: roster.Member) -> bool:
        return (
            member.receiving
            and member.email not in self.suppressed_emails
            and (member.subscriber.frequency != "weekly" or member.email in self.weekly)
        )


def plan(conn: Connection, settings: Settings, today: date, reporter: Reporter) -> Plan:
    """Import the subscriber file if it changed, then sort who is mailed today."""
    imported = roster.sync_file(conn, settings.subscribers_path, settings.subscribers_required)
    if imported is not None:
        reporter.info(f"imported {settings.subscribers_path}: {imported.summary()}")
    suppressed = store.suppressed(conn)
    daily, weekly, held = roster.receiving(conn, exclude=suppressed)
    weeklies = [m for m in roster.members(conn, weekly=True) if m.email not in suppressed]
    due = {m.email for m in roster.due_weekly(weeklies, today, settings.weekly_day)}
    return Plan(
        receiving=daily + len(due),
        weekly=frozenset(due),
        waiting=weekly - len(due),
        suppressed=held,
        suppressed_emails=frozenset(suppressed),
    )


BATCH = 200  # subscribers decided, composed and stored together, while earlier ones are sent


def batches(
    reading: Callable[[], AbstractContextManager[Connection]],
    who: Plan,
    stop: threading.Event | None = None,
) -> Iterator[list[Subscriber]]:
    """The subscribers to mail, BATCH at a time, read from the database a page at a time
    (each through a connection from `reading`), until `stop` is set."""
    after: str | None = None
    batch: list[Subscriber] = []
    while not (stop is not None and stop.is_set()):
        with reading() as conn:
            page = roster.members(conn, after=after, limit=BATCH)
        if not page:
            break
        after = page[-1].email
        batch.extend(m.subscriber for m in page if who.mails(m))
        if len(batch) >= BATCH:
            yield batch
            batch = []
    if batch and not (stop is not None and stop.is_set()):
        yield batch


@dataclass
class Ranking:
    """The run's listings, indexed once for every subscriber: the window's for daily digests,
    the week's for weekly ones."""

    day: date
    daily: Listing
    rarity: Rarity
    weekly: Listing | None

    @classmethod
    def of(cls, conn: Connection, days: Sequence[date], weekly: bool) -> Ranking:
        listing, rarity = listing_for(conn, store.papers_listed(conn, days))
        week = Listing(store.papers_listed(conn, week_of(days[-1]))) if weekly else None
        return cls(days[-1], listing, rarity, week)

    def decide(self, conn: Connection, subs: Sequence[Subscriber]) -> list[Digest]:
        """Daily digests over the run's window, weekly ones over the week ending its last day."""
        daily = [s for s in subs if s.frequency != "weekly" or self.weekly is None]
        digests = decide(conn, daily, self.daily, self.rarity, self.day)
        weekly = [s for s in subs if s.frequency == "weekly" and self.weekly is not None]
        if weekly:
            assert self.weekly is not None
            since = week_of(self.day)[0]
            digests += decide(conn, weekly, self.weekly, self.rarity, self.day, since=since)
        return digests


def fetch_days(settings: Settings, engine: Engine, days: list[date]) -> list[date]:
    """The run's window, and the whole week when a weekly digest is due (so it covers days a
    stopped daemon did not fetch)."""
    with engine.connect() as conn:
        weekly = roster.members(conn, weekly=True)
        due = roster.due_weekly(weekly, days[-1], settings.weekly_day)
    return sorted(set(days) | set(week_of(days[-1]))) if due else days


def compose_all(
    composer: Composer, digests: Sequence[Digest], report: RunReport, reporter: Reporter
) -> Iterator[Composed]:
    """Compose each digest; one that cannot be composed is reported and skipped, its papers
    left unclaimed, and the others still go out."""
    for d in digests:
        try:
            yield composer.compose(d)
        except (TemplateError, ValueError) as exc:
            problem = f"{d.subscriber.email}: cannot compose the digest: {exc}"
            report.compose_errors.append(problem)
            reporter.error(problem)


QUIET_ABOVE = 100  # with more subscribers, "no new matches" is one count, not a line each


def produce(
    engine: Engine,
    composer: Composer,
    ranking: Ranking,
    who: Plan,
    run_id: int,
    report: RunReport,
    reporter: Reporter,
    advance: Advance,
    stop: threading.Event | None,
) -> Iterator[Item]:
    """Decide, compose and store the digests a batch of subscribers at a time, yielding each
    stored message for delivery. A batch is one transaction: its messages, the papers they
    claim, and its weekly subscribers' week; a run killed mid-batch leaves none of it."""
    clock = report.timings
    for batch in batches(engine.connect, who, stop):
        with engine.connect() as conn, timed(clock, "rank", cpu=True):
            digests = ranking.decide(conn, batch)
        with timed(clock, "compose", cpu=True):
            composed = list(compose_all(composer, digests, report, reporter))
        with timed(clock, "store", cpu=True), store.writing(engine) as conn:
            store.record_pending(conn, [(c.digest, c.subject, c.raw) for c in composed], run_id)
            roster.mark_weekly(conn, [s.email for s in batch if s.email in who.weekly], ranking.day)
        report.mailed += len(digests)
        _passed_over(batch, digests, who, report, reporter, advance)
        for c in composed:
            yield c.digest.message_id, c.digest.subscriber.email
    if composer.fallback:
        reporter.warn(
            f"the HTML template is inlined for each message, which is slower: {composer.fallback}"
        )


def _passed_over(
    batch: Sequence[Subscriber],
    digests: Sequence[Digest],
    who: Plan,
    report: RunReport,
    reporter: Reporter,
    advance: Advance,
) -> None:
    mailed = {d.subscriber.email for d in digests}
    for sub in batch:
        if sub.email not in mailed:
            report.decided += 1
            advance()
            if who.receiving <= QUIET_ABOVE:
                reporter.info(f"{sub.email}: no new matches, no email")
    report.decided += len(mailed)


@contextmanager
def timed(clock: dict[str, float], stage: str, cpu: bool = False) -> Iterator[None]:
    """Add the stage's seconds to `clock`: wall time, or with `cpu` this thread's processor
    time (what composing costs, not what the sending threads took meanwhile)."""
    now = time.thread_time if cpu else time.perf_counter
    started = now()
    try:
        yield
    finally:
        clock[stage] = clock.get(stage, 0.0) + now() - started


def run(
    settings: Settings,
    day: date | None = None,
    *,
    dry_run: bool = False,
    reporter: Reporter | None = None,
    sources: Sequence[Source] | None = None,
    stop: threading.Event | None = None,
) -> RunReport:
    """The main job: decide and store every digest in the outbox, and deliver the outbox while
    it fills.

    Raises ConfigError for unusable settings or subscriber file, Busy when another run holds
    the lock; in both cases nothing was done.
    """
    started = time.monotonic()
    reporter = reporter or Silent()
    days = window(settings, day)
    report = RunReport(days=days, dry_run=dry_run)
    roster.read_file(settings.subscribers_path, settings.subscribers_required)
    composer = Composer(settings)
    report.destination = make_transport(settings).describe()
    with contextlib.ExitStack() as stack:
        if not dry_run:
            stack.enter_context(run_lock(settings.database_url))
        engine = stack.enter_context(opened(settings))
        if dry_run:
            _dry_run(engine, settings, composer, report, reporter, sources)
        else:
            _run(engine, settings, composer, report, reporter, sources, stop)
    report.seconds = round(time.monotonic() - started, 3)
    return report


@contextmanager
def _prepared(
    engine: Engine,
    settings: Settings,
    report: RunReport,
    reporter: Reporter,
    sources: Sequence[Source] | None,
    *,
    commit: bool,
) -> Iterator[tuple[Connection, Plan, Ranking]]:
    """Fetch and store the listings, import the subscriber file, and sort who is mailed, in
    one transaction, committed (when `commit`) when the block ends."""
    days = report.days
    started = time.perf_counter()
    fetching = fetch_days(settings, engine, days)
    with collected(
        engine, settings, fetching, report, reporter, commit=commit, sources=sources
    ) as (conn, candidates):
        who = plan(conn, settings, days[-1], reporter)
        if commit:
            cancelled = store.cancel_pending_to_absent(conn, who.suppressed_emails)
            if cancelled:
                reporter.info(f"cancelled pending mail to {cancelled} former subscriber(s)")
        report.earlier = store.count_messages(conn, store.PENDING)
        with timed(report.timings, "rank", cpu=True):
            ranking = Ranking.of(conn, days, bool(who.weekly))
        report.timings["prepare"] = time.perf_counter() - started
        report.subscribers = who.receiving
        report.suppressed = who.suppressed
        reporter.info(
            f"{len(candidates)} papers listed {_span(days)}; {who.receiving} subscriber(s) to mail"
        )
        if who.waiting:
            reporter.info(f"{who.waiting} weekly subscriber(s) wait for their day")
        if not who.receiving and not who.waiting:
            reporter.info(
                "no subscribers yet: `digest subscribers add`, a subscriber file, "
                "or the subscribe page of `digest serve`"
            )
        yield conn, who, ranking


def _run(
    engine: Engine,
    settings: Settings,
    composer: Composer,
    report: RunReport,
    reporter: Reporter,
    sources: Sequence[Source] | None,
    stop: threading.Event | None,
) -> None:
    started = time.monotonic()
    with engine.begin() as conn:
        run_id = store.start_run(conn, report.days)
    status = "failed"
    try:
        with _prepared(engine, settings, report, reporter, sources, commit=True) as prepared:
            _, who, ranking = prepared
        if report.earlier:
            reporter.info(f"{report.earlier} message(s) pending from earlier runs go out too")
        with engine.connect() as conn:
            earlier = store.pending(conn)
        total = len(earlier) + who.receiving
        with reporter.steps("mailing", total) as advance, timed(report.timings, "deliver"):
            fresh = produce(engine, composer, ranking, who, run_id, report, reporter, advance, stop)
            deliver(
                engine,
                lambda: make_transport(settings),
                settings,
                report,
                reporter,
                feed=itertools.chain(earlier, fresh),
                advance=advance,
                stop=stop,
            )
        _summarize(who, report, reporter)
        reporter.info(report.timing())
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
    with _prepared(engine, settings, report, reporter, sources, commit=False) as prepared:
        conn, who, ranking = prepared
        for batch in batches(lambda: contextlib.nullcontext(conn), who):
            digests = ranking.decide(conn, batch)
            report.mailed += len(digests)
            _passed_over(batch, digests, who, report, reporter, lambda: None)
            for c in compose_all(composer, digests, report, reporter):
                reporter.info(f"would send to {c.digest.subscriber.email}: {c.subject}")
    _summarize(who, report, reporter)
    if report.earlier:
        reporter.info(f"{report.earlier} message(s) pending from earlier runs would go out too")


def _summarize(who: Plan, report: RunReport, reporter: Reporter) -> None:
    quiet = report.decided - report.mailed
    if quiet and who.receiving > QUIET_ABOVE:
        reporter.info(f"{quiet} subscriber(s) had no new matches and get no email")
    undecided = who.receiving - report.decided
    if undecided:
        reporter.info(f"{undecided} subscriber(s) not reached before the stop: the next run")


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
    sources: list[tuple[SourceState, str | None]]  # each configured source, and why it is stale


def status(settings: Settings, *, runs: int = 10) -> Status:
    """What an operator checks: the last runs, the sources, the outbox, suppressed addresses.
    Read-only."""
    today = datetime.now(settings.tz).date()
    with opened(settings) as engine, engine.connect() as conn:
        return Status(
            runs=store.recent_runs(conn, runs),
            pending=store.messages_in(conn, store.PENDING),
            failed=store.messages_in(conn, store.FAILED),
            suppressed=store.suppression_rows(conn),
            lock_holder=lock_holder(settings.database_url),
            sources=[
                (state, stale(state, today))
                for state in (store.source_state(conn, name) for name in settings.sources)
            ],
        )


def enable(settings: Settings, email: str) -> bool:
    """Re-enable a suppressed address; False if it was not suppressed."""
    with opened(settings) as engine, engine.begin() as conn:
        return store.unsuppress(conn, email.strip().lower())
