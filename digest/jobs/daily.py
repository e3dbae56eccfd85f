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
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, replace
from datetime import date

from .. import store
from ..compose.render import Composer
from ..domain.digest import PENDING
from ..errors import Busy
from ..progress import Reporter, Silent, ignore
from ..settings import Settings
from ..sources.base import Source
from ..store import Database
from ..store.lock import gone, holder, try_run_lock
from .collect import collected
from .decide import Decider
from .embed import embed
from .fill import QUIET_ABOVE, Filler
from .mailing import mail
from .outbox import free_abandoned
from .plan import WHOLE, Plan, batches, fetch_days, parts, plan, span, window
from .result import RunResult, timed
from .roster import check_file
from .seeds import resolve
from .send import Worker, alongside, working
from .wiring import composer_for, opened, transport_for
from .workers import Helpers, shared, watching, worker_count


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

    Raises ConfigError for unusable settings or subscriber file; then nothing was done.
    While another run holds the run lock (it is deciding), this one sends alongside it, then
    decides in turn (finding nothing new, or what that run did not get to).
    """
    started = time.monotonic()
    result = RunResult(days=window(settings.schedule, day), dry_run=dry_run)
    check_file(settings.subscribers)
    composer = composer_for(settings)
    result.destination = transport_for(settings).describe()
    with opened(settings, look_only=dry_run) as db:
        reporter = reporter or Silent()
        if db.upgraded:
            reporter.info(f"{db.upgraded} (DIGEST_AUTO_MIGRATE)")
        job = DailyRun(settings, db, composer, result, reporter, sources, stop)
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
        """Take the run lock (sending alongside the run that holds it meanwhile), prepare,
        then fill the outbox while sending it; the run recorded either way."""
        started = time.monotonic()
        with working(self.db, self.settings) as worker:
            run_id = self.record_start(worker)
            status = "failed"
            try:
                with self.locked(worker) as lock:
                    who, decider = self.prepare()
                    resolve(self.db, self.settings, self.reporter)
                    if self.settings.semantic:
                        self.understand(decider)
                    self.send(worker, who, decider, run_id, lock)
                self.summarize(who)
                self.reporter.info(self.result.timing())
                status = "ok" if self.result.ok else "failed"
            finally:
                self.record(run_id, status, time.monotonic() - started)

    def rehearse(self) -> None:
        """The dry run: every digest decided and composed as the run would, then all undone."""
        with self.prepared(keep=False) as (conn, who, decider):
            filler = self.filler()
            for batch in batches(lambda: contextlib.nullcontext(conn), who):
                digests = decider.decide(conn, batch)
                self.result.mailed += len(digests)
                filler.passed_over(batch, digests, who, ignore)
                for c in filler.composed(digests):
                    self.reporter.info(f"would send to {c.digest.subscriber.email}: {c.subject}")
        self.summarize(who)
        if self.result.earlier:
            self.reporter.info(
                f"{self.result.earlier} message(s) pending from earlier runs would go out too"
            )

    def filler(self) -> Filler:
        return Filler(self.db, self.composer, self.result, self.reporter, self.stop)

    @contextmanager
    def locked(self, worker: Worker) -> Iterator[Lock]:
        """The run lock: deciding is done by one run at a time. While another run holds it,
        this one sends alongside it."""
        held = try_run_lock(self.db)
        while held is None:
            self.reporter.info(
                f"another run is deciding ({holder(self.db) or 'unknown process'}); "
                "this one sends alongside it, then looks for anything left"
            )
            helped = alongside(worker, self.result, self.reporter, self.stop)
            held = try_run_lock(self.db)
            stopping = self.stop is not None and self.stop.is_set()
            if held is None and (not helped or stopping):
                raise Busy(
                    f"another digest run is in progress ({holder(self.db) or 'unknown'}) and "
                    "stored nothing new for a long while, or this one could not send alongside it"
                )
            if held is None:
                time.sleep(1.0)
        lock = Lock(held)
        try:
            yield lock
        finally:
            lock.release()

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
                free_abandoned(self.db, conn)
            result.earlier = store.outbox.count(conn, PENDING)
            with timed(result.timings, "rank", cpu=True):
                decider = Decider.of(conn, days, bool(who.weekly), self.settings.mail.domain)
                if self.settings.semantic and not keep:  # a dry run: nothing is kept
                    decider.understand(conn, compute=True)
            result.timings["prepare"] = time.perf_counter() - started
            result.subscribers = who.receiving
            result.suppressed = who.suppressed
            reporter.info(
                f"{len(candidates)} papers listed {span(days)}; "
                f"{who.receiving} subscriber(s) to mail"
            )
            self.say_who_waits(who)
            yield conn, who, decider

    def understand(self, decider: Decider) -> None:
        """The semantic mode: the papers' vectors made (outside any transaction), then
        handed to the listings."""
        with timed(self.result.timings, "embed", cpu=True):
            made = embed(self.db, decider.papers)
            with self.db.reading() as conn:
                decider.understand(conn, compute=False)
        if made:
            self.reporter.info(f"semantic mode: {made} paper(s) embedded")

    def say_who_waits(self, who: Plan) -> None:
        if who.waiting:
            self.reporter.info(f"{who.waiting} weekly subscriber(s) wait for their day")
        if not who.receiving and not who.waiting:
            self.reporter.info(
                "no subscribers yet: `digest subscribers add`, a subscriber file, "
                "or the subscribe page of `digest serve`"
            )

    # --- 2 and 3. fill the outbox, and send it ----------------------------------------------

    def send(self, worker: Worker, who: Plan, decider: Decider, run_id: int, lock: Lock) -> None:
        """Send what the outbox holds while it fills: messages earlier runs left first, then
        each batch as soon as it is stored. With several workers, each process fills its
        part. The run lock is let go once the outbox is filled; sending goes on, shared with
        any other worker."""
        result, reporter = self.result, self.reporter
        if result.earlier:
            reporter.info(f"{result.earlier} message(s) pending from earlier runs go out too")
        count = worker_count(self.settings, who.receiving)
        with self.db.reading() as conn:
            cut = parts(conn, count) if count > 1 else [WHOLE]
        if len(cut) > 1:
            reporter.info(f"{len(cut)} worker processes decide, compose and send")
            worker = replace(worker, settings=shared(self.settings, len(cut), 0))
        everything = threading.Event()  # every part is stored: nothing more will come
        total = result.earlier + who.receiving
        with reporter.steps("mailing", total) as advance, timed(result.timings, "deliver"):
            helpers = Helpers.start(self.settings, result.days, who, cut, run_id, reporter, advance)

            def filled() -> None:
                helpers.wait_filled(self.stop)
                everything.set()
                helpers.tell("filled")
                lock.release()

            with watching(helpers, self.stop):
                try:
                    mail(
                        worker,
                        self.filler(),
                        who,
                        decider,
                        run_id,
                        cut[0],
                        advance,
                        more=lambda: not everything.is_set(),
                        filled=filled,
                        earlier=result.earlier,
                    )
                    helpers.end(result)
                except BaseException:  # the helpers stop too, before the run lock goes
                    everything.set()
                    helpers.tell("stop")
                    helpers.end(result, timeout=60.0)
                    raise

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

    def record_start(self, worker: Worker) -> int:
        """Record this run; runs still marked running whose process is gone, as interrupted."""
        with self.db.reading() as conn:
            running = store.runs.running(conn)
        dead = gone(self.db, {w for _, w in running if w})
        died = [run for run, w in running if w is None or w in dead]
        with self.db.begin() as conn:
            store.runs.mark_interrupted(conn, died)
            return store.runs.start(conn, self.result.days, worker.id)

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


class Lock:
    """The run lock as a run holds it: let go once (the outbox filled, or the run ended)."""

    def __init__(self, held: AbstractContextManager[None]) -> None:
        self.held: AbstractContextManager[None] | None = held
        held.__enter__()

    def release(self) -> None:
        if self.held is not None:
            held, self.held = self.held, None
            held.__exit__(None, None, None)
