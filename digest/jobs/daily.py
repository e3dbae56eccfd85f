"""The daily job, in the order it happens:

1. **prepare**: fetch and store the listings, import the subscriber file, plan who is mailed,
   index the listing; one transaction, committed before anything is mailed;
2. **fill the outbox**: decide, compose and store the digests a batch of subscribers at a
   time, each batch one transaction (its messages, the papers they claim, the weekly marks);
3. **send**: the messages earlier runs left pending, then each batch as soon as it is
   stored, so the relay works while the next batch is composed.

A dry run prepares, then decides and composes every digest as the run would, and keeps
nothing.
"""

from __future__ import annotations

import contextlib
import itertools
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date

from jinja2 import TemplateError

from .. import store
from ..compose.render import Composed, Composer
from ..deliver.sender import Delivery, Item, deliver, open_lanes
from ..domain.digest import PENDING, Digest
from ..domain.subscriber import Subscriber
from ..errors import DeliveryError
from ..progress import Advance, Reporter, Silent
from ..settings import Settings
from ..sources.base import Source
from ..store import Database
from ..store.lock import run_lock
from .collect import collected
from .decide import Decider
from .outbox import StoreLedger
from .plan import Plan, batches, fetch_days, plan, span, window
from .result import RunResult, timed
from .roster import check_file
from .wiring import composer_for, opened, transport_for

QUIET_ABOVE = 100  # with more subscribers, "no new matches" is one count, not a line each


def run(
    settings: Settings,
    day: date | None = None,
    *,
    dry_run: bool = False,
    reporter: Reporter | None = None,
    sources: Sequence[Source] | None = None,
    stop: threading.Event | None = None,
) -> RunResult:
    """The main job: decide and store every digest in the outbox, and deliver the outbox while
    it fills. `stop` (the daemon's SIGTERM) ends it after the messages being sent.

    Raises ConfigError for unusable settings or subscriber file, Busy when another run holds
    the lock; in both cases nothing was done.
    """
    started = time.monotonic()
    result = RunResult(days=window(settings.schedule, day), dry_run=dry_run)
    check_file(settings.subscribers)
    composer = composer_for(settings)
    result.destination = transport_for(settings).describe()
    with contextlib.ExitStack() as stack:
        if not dry_run:
            stack.enter_context(run_lock(settings.database.url))
        db = stack.enter_context(opened(settings))
        job = DailyRun(settings, db, composer, result, reporter or Silent(), sources, stop)
        if dry_run:
            job.rehearse()
        else:
            job.run()
    result.seconds = round(time.monotonic() - started, 3)
    return result


@dataclass
class DailyRun:
    settings: Settings
    db: Database
    composer: Composer
    result: RunResult
    reporter: Reporter
    sources: Sequence[Source] | None = None
    stop: threading.Event | None = None

    def run(self) -> None:
        """Prepare, then fill the outbox while sending it; the run recorded either way."""
        started = time.monotonic()
        with self.db.begin() as conn:
            # Called holding the run lock: a run still marked running has died.
            store.runs.mark_interrupted(conn)
            run_id = store.runs.start(conn, self.result.days)
        status = "failed"
        try:
            who, decider = self.prepare()
            self.send(who, decider, run_id)
            self.summarize(who)
            self.reporter.info(self.result.timing())
            status = "ok" if self.result.ok else "failed"
        finally:
            self.record(run_id, status, time.monotonic() - started)

    def rehearse(self) -> None:
        """The dry run: every digest decided and composed as the run would, then all undone."""
        with self.prepared(keep=False) as (conn, who, decider):
            for batch in batches(lambda: contextlib.nullcontext(conn), who):
                digests = decider.decide(conn, batch)
                self.result.mailed += len(digests)
                self.passed_over(batch, digests, who, lambda: None)
                for c in self.composed(digests):
                    self.reporter.info(f"would send to {c.digest.subscriber.email}: {c.subject}")
        self.summarize(who)
        if self.result.earlier:
            self.reporter.info(
                f"{self.result.earlier} message(s) pending from earlier runs would go out too"
            )

    # --- 1. prepare -------------------------------------------------------------------------

    def prepare(self) -> tuple[Plan, Decider]:
        """Step 1, committed before anything is mailed."""
        with self.prepared(keep=True) as (_, who, decider):
            return who, decider

    @contextmanager
    def prepared(self, *, keep: bool) -> Iterator[tuple[store.Tx, Plan, Decider]]:
        """Fetch and store the listings, import the subscriber file, and sort who is mailed,
        in one transaction, committed (when `keep`) when the block ends."""
        result, reporter, days = self.result, self.reporter, self.result.days
        started = time.perf_counter()
        fetching = fetch_days(self.settings.schedule, self.db, days)
        with collected(
            self.db, self.settings, fetching, result, reporter, keep=keep, sources=self.sources
        ) as (conn, candidates):
            who = plan(conn, self.settings, days[-1], reporter)
            if keep:
                cancelled = store.outbox.cancel_pending_to_absent(conn, who.suppressed_emails)
                if cancelled:
                    reporter.info(f"cancelled pending mail to {cancelled} former subscriber(s)")
            result.earlier = store.outbox.count(conn, PENDING)
            with timed(result.timings, "rank", cpu=True):
                decider = Decider.of(conn, days, bool(who.weekly), self.settings.mail.domain)
            result.timings["prepare"] = time.perf_counter() - started
            result.subscribers = who.receiving
            result.suppressed = who.suppressed
            reporter.info(
                f"{len(candidates)} papers listed {span(days)}; "
                f"{who.receiving} subscriber(s) to mail"
            )
            self.say_who_waits(who)
            yield conn, who, decider

    def say_who_waits(self, who: Plan) -> None:
        if who.waiting:
            self.reporter.info(f"{who.waiting} weekly subscriber(s) wait for their day")
        if not who.receiving and not who.waiting:
            self.reporter.info(
                "no subscribers yet: `digest subscribers add`, a subscriber file, "
                "or the subscribe page of `digest serve`"
            )

    # --- 2. fill the outbox -----------------------------------------------------------------

    def fill(self, who: Plan, decider: Decider, run_id: int, advance: Advance) -> Iterator[Item]:
        """Decide, compose and store the digests a batch of subscribers at a time, yielding
        each stored message: a batch is decided when the sender asks for more. A batch is one
        transaction (its messages, the papers they claim, its weekly subscribers' week); a run
        killed mid-batch leaves none of it."""
        clock = self.result.timings
        for batch in batches(self.db.reading, who, self.stop):
            with self.db.reading() as conn, timed(clock, "rank", cpu=True):
                digests = decider.decide(conn, batch)
            with timed(clock, "compose", cpu=True):
                composed = list(self.composed(digests))
            with timed(clock, "store", cpu=True), self.db.writing() as conn:
                store.outbox.add_pending(
                    conn, [(c.digest, c.subject, c.raw) for c in composed], run_id
                )
                weekly = [s.email for s in batch if s.email in who.weekly]
                store.subscribers.mark_weekly(conn, weekly, decider.day)
            self.result.mailed += len(digests)
            self.passed_over(batch, digests, who, advance)
            for c in composed:
                yield c.digest.message_id, c.digest.subscriber.email
        if self.composer.fallback:
            self.reporter.warn(
                "the HTML template is inlined for each message, which is slower: "
                f"{self.composer.fallback}"
            )

    def composed(self, digests: Sequence[Digest]) -> Iterator[Composed]:
        """Each digest composed; one that cannot be is reported and skipped, its papers left
        unclaimed, and the others still go out."""
        for d in digests:
            try:
                yield self.composer.compose(d)
            except (TemplateError, ValueError) as exc:
                problem = f"{d.subscriber.email}: cannot compose the digest: {exc}"
                self.result.compose_errors.append(problem)
                self.reporter.error(problem)

    def passed_over(
        self, batch: Sequence[Subscriber], digests: Sequence[Digest], who: Plan, advance: Advance
    ) -> None:
        """Count the batch as decided; the subscribers with nothing new are done with."""
        mailed = {d.subscriber.email for d in digests}
        for sub in batch:
            if sub.email not in mailed:
                self.result.decided += 1
                advance()
                if who.receiving <= QUIET_ABOVE:
                    self.reporter.info(f"{sub.email}: no new matches, no email")
        self.result.decided += len(mailed)

    # --- 3. send ----------------------------------------------------------------------------

    def send(self, who: Plan, decider: Decider, run_id: int) -> None:
        """Send what earlier runs left pending, then each batch as the outbox fills."""
        result, reporter, settings = self.result, self.reporter, self.settings
        if result.earlier:
            reporter.info(f"{result.earlier} message(s) pending from earlier runs go out too")
        with self.db.reading() as conn:
            earlier = store.outbox.pending(conn)
        total = len(earlier) + who.receiving
        with reporter.steps("mailing", total) as advance, timed(result.timings, "deliver"):
            stored = self.fill(who, decider, run_id, advance)
            try:
                lanes = open_lanes(lambda: transport_for(settings))
            except DeliveryError as exc:
                # Nothing can go now: every digest is still decided and stored, for the next run.
                self.undeliverable(exc, len(earlier) + sum(1 for _ in stored))
                return
            ledger = StoreLedger(self.db, settings.mail.suppress_after)
            delivery = Delivery()
            try:
                deliver(
                    ledger,
                    lanes,
                    settings.mail.smtp,
                    reporter,
                    feed=itertools.chain(earlier, stored),
                    advance=advance,
                    delivery=delivery,
                    stop=self.stop,
                )
            finally:  # counted even when something cut delivery short
                result.delivered(delivery)

    def undeliverable(self, exc: DeliveryError, left: int) -> None:
        if left:
            self.result.delivery_error = str(exc)
            self.result.deferred += left
            self.reporter.error(f"{exc}; {left} message(s) left pending")

    # --- the end ----------------------------------------------------------------------------

    def summarize(self, who: Plan) -> None:
        quiet = self.result.decided - self.result.mailed
        if quiet and who.receiving > QUIET_ABOVE:
            self.reporter.info(f"{quiet} subscriber(s) had no new matches and get no email")
        undecided = who.receiving - self.result.decided
        if undecided:
            self.reporter.info(
                f"{undecided} subscriber(s) not reached before the stop: the next run"
            )

    def record(self, run_id: int, status: str, seconds: float) -> None:
        r = self.result
        with self.db.begin() as conn:
            store.runs.finish(
                conn,
                run_id,
                status,
                fetched=r.fetched,
                new=r.new,
                mailed=r.mailed,
                sent=r.sent,
                failed=r.failed,
                seconds=round(seconds, 3),
                detail="\n".join(r.problems),
            )
