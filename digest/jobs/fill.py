"""Filling the outbox: the digests decided, composed and stored a batch of subscribers at a
time, each batch one transaction (its messages, the papers they claim, its weekly subscribers'
week), so a run killed mid-batch leaves none of it."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from jinja2 import TemplateError

from .. import store
from ..compose.render import Composed, Composer
from ..domain.digest import Digest
from ..domain.subscriber import Subscriber
from ..progress import Advance, Reporter
from ..store import Database, Tx
from .decide import Decider
from .outbox import Kept
from .plan import WHOLE, Part, Plan, batches, week_of
from .result import RunResult, timed

QUIET_ABOVE = 100  # with more subscribers, "no new matches" is one count, not a line each
# What a digest passed over is kept while a later run's window may list it again: from the
# first day this run's windows (the lookback, a weekly digest's week) cover, less this margin
# for a lookback raised meanwhile or a run done again for an earlier day.
PASSED_OVER_MARGIN = timedelta(days=7)


@dataclass
class Filler:
    db: Database
    composer: Composer
    result: RunResult
    reporter: Reporter
    stop: threading.Event | None = None

    def fill(
        self,
        who: Plan,
        decider: Decider,
        run_id: int,
        advance: Advance,
        kept: Kept | None = None,
        part: Part = WHOLE,
    ) -> Iterator[int]:
        """Decide, compose and store the digests of `part` a batch at a time, yielding how
        many messages each batch stored, as soon as it is stored (their bytes also handed to
        `kept`, for this process's lanes)."""
        clock = self.result.timings
        for batch in batches(self.db.reading, who, self.stop, part):
            with self.db.reading() as conn, timed(clock, "rank", cpu=True):
                digests = decider.decide(conn, batch)
            with timed(clock, "compose", cpu=True):
                composed = list(self.composed(digests))
            weekly = [s.email for s in batch if s.email in who.weekly]
            if self.stop is not None and self.stop.is_set():
                break  # asked to stop (or a helper's run is gone): this batch waits
            with timed(clock, "store", cpu=True):
                stored = self.stored(composed, run_id, weekly, decider.day)
            if kept is not None:
                kept.add((c.digest.message_id, c.raw) for c in stored)
            for _ in range(len(digests) - len(composed)):  # could not be composed: no mail
                advance(False)
            self.left(composed, stored, advance)
            self.result.mailed += len(digests)
            self.passed_over(batch, digests, who, advance)
            yield len(stored)
        with self.db.writing() as conn:
            first = min(decider.start, week_of(decider.day)[0])
            store.outbox.forget_passed_over(conn, first - PASSED_OVER_MARGIN)
        if self.composer.fallback:
            self.reporter.warn(
                "the HTML template is inlined for each message, which is slower: "
                f"{self.composer.fallback}"
            )

    def stored(
        self, composed: Sequence[Composed], run_id: int, weekly: Sequence[str], day: date
    ) -> list[Composed]:
        """A batch stored in one transaction, run again when the database was busy; the
        weekly subscribers' week marked done with it."""

        def work(conn: Tx) -> list[Composed]:
            kept = self.store(conn, composed, run_id)
            store.subscribers.mark_weekly(conn, weekly, day)
            return kept

        return self.db.retried(work)

    def store(self, conn: Tx, composed: Sequence[Composed], run_id: int) -> list[Composed]:
        """Store the batch's messages, but for subscribers who left, paused or were
        suppressed since the batch was read (their digest was decided from an older read)."""
        emails = [c.digest.subscriber.email for c in composed]
        receiving = store.subscribers.receiving_among(conn, emails)
        receiving -= store.suppressions.suppressed(conn)
        kept = [c for c in composed if c.digest.subscriber.email in receiving]
        store.outbox.add_pending(conn, [(c.digest, c.subject, c.raw) for c in kept], run_id)
        return kept

    def left(
        self, composed: Sequence[Composed], stored: Sequence[Composed], advance: Advance
    ) -> None:
        """Say who was not mailed because they left while their batch was decided."""
        kept = {c.digest.message_id for c in stored}
        for c in composed:
            if c.digest.message_id not in kept:
                self.reporter.info(
                    f"{c.digest.subscriber.email}: no longer receiving digests; not mailed"
                )
                advance(False)

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
        """Count the batch as decided; the subscribers with nothing new are done with, and
        the progress of the mailing no longer waits for a message to them."""
        mailed = {d.subscriber.email for d in digests}
        for sub in batch:
            if sub.email not in mailed:
                self.result.decided += 1
                advance(False)
                if who.receiving <= QUIET_ABOVE:
                    self.reporter.info(f"{sub.email}: no new matches, no email")
        self.result.decided += len(mailed)
