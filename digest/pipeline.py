"""The daily job: fetch, store and diff, rank, compose, deliver; and the report it ends with."""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sqlalchemy import Connection, Engine

from . import store
from .compose import Composed, Composer
from .config import ConfigError, Settings
from .deliver import DeliveryError, Refused, Transport, make_transport
from .models import Digest, Paper, Ranked, Subscriber
from .progress import Reporter, Silent
from .rank import PaperIndex, compile_profile, index_paper, rank
from .sources import Source, SourceError, make_sources
from .subscribers import load_subscribers


@dataclass
class RunReport:
    days: list[date]
    dry_run: bool = False
    fetched: int = 0
    new: int = 0
    subscribers: int = 0
    mailed: int = 0
    sent: int = 0
    failed: int = 0
    deferred: int = 0
    source_failures: list[str] = field(default_factory=list)
    refusals: list[str] = field(default_factory=list)
    delivery_error: str | None = None
    destination: str = ""
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        relay_refused_all = self.mailed > 0 and self.sent == 0 and not self.dry_run
        return not (self.source_failures or self.delivery_error or relay_refused_all)

    @property
    def exit_code(self) -> int:
        return 0 if self.ok else 1

    def summary(self) -> str:
        span = str(self.days[0]) if len(self.days) == 1 else f"{self.days[0]}..{self.days[-1]}"
        head = "dry run" if self.dry_run else "run"
        parts = [
            f"fetched {self.fetched} papers ({self.new} new)",
            f"{self.mailed} of {self.subscribers} subscribers had new papers",
        ]
        if self.dry_run:
            parts.append(f"{self.mailed} messages rendered, none sent")
        else:
            parts.append(f"{self.sent} sent, {self.failed} failed")
            if self.deferred:
                parts.append(f"{self.deferred} left for the next run")
        if self.source_failures:
            parts.append(f"{len(self.source_failures)} source(s) failed")
        if self.delivery_error:
            parts.append("delivery stopped")
        tail = f" -> {self.destination}" if self.sent and self.destination else ""
        status = "ok" if self.ok else "FAILED"
        return f"{head} {span} {status}: " + "; ".join(parts) + tail


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


def decide(
    conn: Connection, subscribers: Sequence[Subscriber], indexed: Sequence[PaperIndex], day: date
) -> list[Digest]:
    """Each subscriber's digest: what is new to them (not in their ledger), ranked, capped.
    What falls below the cap is passed over for good once the digest is accepted."""
    digests = []
    for sub in subscribers:
        already = store.sent_keys(conn, sub.email)
        fresh = [i for i in indexed if i.paper.key not in already]
        ranked = rank(compile_profile(sub), fresh)
        if ranked:
            passed = tuple(r.paper.key for r in ranked[sub.max_papers :])
            digests.append(Digest(sub, day, ranked[: sub.max_papers], passed_over=passed))
    return digests


def deliver(
    engine: Engine,
    transport: Transport,
    composed: Sequence[Composed],
    report: RunReport,
    reporter: Reporter,
    run_id: int | None,
) -> None:
    """Send each message and write its ledger entry only once the transport accepted it."""
    try:
        with transport, reporter.steps("sending", len(composed)) as advance:
            for item in composed:
                email = item.digest.subscriber.email
                try:
                    transport.send(item)
                except Refused as exc:
                    if exc.permanent:
                        report.failed += 1
                        report.refusals.append(f"{email}: {exc}")
                        with engine.begin() as conn:
                            store.record_failed(conn, item.digest, item.subject, run_id, str(exc))
                    else:
                        report.deferred += 1
                        report.refusals.append(f"{email}: {exc} (will retry next run)")
                    reporter.warn(f"{email}: refused: {exc}")
                    continue
                with engine.begin() as conn:
                    store.record_sent(conn, item.digest, item.subject, run_id)
                report.sent += 1
                advance()
    except DeliveryError as exc:
        report.delivery_error = str(exc)
        reporter.error(str(exc))


def run(
    settings: Settings,
    day: date | None = None,
    *,
    dry_run: bool = False,
    reporter: Reporter | None = None,
    sources: Sequence[Source] | None = None,
    transport: Transport | None = None,
) -> RunReport:
    """The main job. Raises ConfigError for unusable settings or subscriber file (nothing done)."""
    started = time.monotonic()
    reporter = reporter or Silent()
    days = window(settings, day)
    report = RunReport(days=days, dry_run=dry_run)
    subscribers = load_subscribers(settings.subscribers_path)
    report.subscribers = len(subscribers)
    composer = Composer(settings)
    transport = transport or make_transport(settings)
    report.destination = transport.describe()
    engine = store.open_engine(settings.database_url)
    try:
        run_id = None
        if not dry_run:
            with engine.begin() as conn:
                run_id = store.start_run(conn, days)
        with collected(
            engine, settings, days, report, reporter, commit=not dry_run, sources=sources
        ) as (conn, candidates):
            if not dry_run:
                store.sync_subscribers(conn, subscribers)
            indexed = [index_paper(p) for p in candidates]
            digests = decide(conn, subscribers, indexed, days[-1])
        report.mailed = len(digests)
        reporter.info(
            f"{len(candidates)} papers listed {_span(days)}; "
            f"{len(digests)} of {len(subscribers)} subscribers have new matches"
        )
        mailed = {d.subscriber.email for d in digests}
        for sub in subscribers:
            if sub.email not in mailed:
                reporter.info(f"{sub.email}: no new matches, no email")
        with reporter.steps("composing", len(digests)) as advance:
            composed = []
            for d in digests:
                composed.append(composer.compose(d))
                advance()
        if dry_run:
            for c in composed:
                reporter.info(f"would send to {c.digest.subscriber.email}: {c.subject}")
        elif composed:
            deliver(engine, transport, composed, report, reporter, run_id)
        report.seconds = round(time.monotonic() - started, 3)
        if run_id is not None:
            with engine.begin() as conn:
                store.finish_run(
                    conn,
                    run_id,
                    "ok" if report.ok else "failed",
                    fetched=report.fetched,
                    new=report.new,
                    mailed=report.mailed,
                    sent=report.sent,
                    failed=report.failed,
                    seconds=report.seconds,
                    detail="\n".join(
                        report.source_failures
                        + report.refusals
                        + ([report.delivery_error] if report.delivery_error else [])
                    ),
                )
    finally:
        engine.dispose()
    return report


def _span(days: Sequence[date]) -> str:
    return f"on {days[0]}" if len(days) == 1 else f"from {days[0]} to {days[-1]}"


def find_subscriber(settings: Settings, email: str) -> Subscriber:
    subs = {s.email: s for s in load_subscribers(settings.subscribers_path)}
    sub = subs.get(email.strip().lower())
    if sub is None:
        raise ConfigError(f"{settings.subscribers_path}: no subscriber {email!r}")
    return sub


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
    engine = store.open_engine(settings.database_url)
    try:
        with collected(
            engine, settings, days, report, reporter or Silent(), commit=commit, sources=sources
        ) as (conn, candidates):
            yield report, conn, candidates
    finally:
        engine.dispose()


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
    with snapshot(settings, day, reporter=reporter, sources=sources) as (report, _, candidates):
        ranked = rank(profile, [index_paper(p) for p in candidates])
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
        digests = decide(conn, [sub], [index_paper(p) for p in candidates], report.days[-1])
    report.mailed = len(digests)
    return report, (Composer(settings).compose(digests[0]) if digests else None)


def fetch(
    settings: Settings,
    day: date | None = None,
    *,
    reporter: Reporter | None = None,
    sources: Sequence[Source] | None = None,
) -> RunReport:
    """Fetch and store only."""
    with snapshot(settings, day, commit=True, reporter=reporter, sources=sources) as (report, _, _):
        return report
