"""Deliver what the outbox holds: every pending message until the relay accepts it or refuses
it for good, over up to SMTP_MAX_CONNECTIONS connections at once and at most SMTP_RATE_LIMIT
messages a second. Transient answers are retried in later passes, spaced by exponential
backoff; what is still refused after the last pass stays pending for the next run.

Messages arrive as a feed of (Message-ID, recipient): the outbox's pending messages, then
those the run composes while earlier ones are being sent. Each is read from the outbox just
before it is sent, so a run never holds more than a few messages in memory.
"""

from __future__ import annotations

import queue
import sys
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from sqlalchemy import Engine

from . import store
from .config import Settings
from .deliver import DeliveryError, Refused, Transport
from .pace import Pace
from .progress import Advance, Reporter
from .report import RunReport

MAX_BACKOFF = 300.0
Item = tuple[str, str]  # (message_id, recipient)


def backoff(settings: Settings, attempt: int) -> float:
    """Seconds to wait before retry pass `attempt` (1-based)."""
    return min(settings.smtp_retry_delay * 2 ** (attempt - 1), MAX_BACKOFF)


@dataclass
class _Pass:
    """One pass over a feed of messages by `lanes` senders, each holding one connection."""

    engine: Engine
    settings: Settings
    report: RunReport
    reporter: Reporter
    advance: Advance
    pace: Pace
    stop: threading.Event | None
    retry: list[Item] = field(default_factory=list)
    down: str | None = None  # why the relay cannot be used any more in this pass
    lock: threading.Lock = field(default_factory=threading.Lock)

    def stopped(self) -> bool:
        return self.down is not None or (self.stop is not None and self.stop.is_set())

    def run(self, feed: Iterable[Item], lanes: list[Transport]) -> None:
        work: queue.Queue[Item | None] = queue.Queue(maxsize=4 * len(lanes))
        # A sending thread waits for the interpreter lock after each relay answer while the
        # run composes; the default 5 ms switch interval would make that wait the bottleneck.
        interval = sys.getswitchinterval()
        sys.setswitchinterval(min(interval, 0.0005))
        threads = [
            threading.Thread(target=self._lane, args=(t, work), name=f"smtp-{i}", daemon=True)
            for i, t in enumerate(lanes)
        ]
        for t in threads:
            t.start()
        try:
            for item in feed:
                work.put(item)
        finally:
            for _ in threads:
                work.put(None)
            for t in threads:
                t.join()
            sys.setswitchinterval(interval)

    def _lane(self, transport: Transport, work: queue.Queue[Item | None]) -> None:
        while (item := work.get()) is not None:
            if self.stopped():
                with self.lock:
                    self.retry.append(item)
                continue
            try:
                self._send(transport, item)
            except Exception as exc:  # a bug must not strand the feed: keep it pending, say so
                with self.lock:
                    self.retry.append(item)
                    self.down = self.down or f"{type(exc).__name__}: {exc}"
                self.reporter.error(f"{item[1]}: delivery failed unexpectedly: {exc}")

    def _send(self, transport: Transport, item: Item) -> None:
        message_id, email = item
        with self.engine.connect() as conn:
            out = store.outgoing(conn, message_id)
        if out is None:  # delivered or cancelled meanwhile
            return
        if not self.pace.wait(self.stop):
            with self.lock:
                self.retry.append(item)
            return
        try:
            transport.send(out)
        except DeliveryError as exc:
            with self.lock:
                self.retry.append(item)
                first = self.down is None
                self.down = self.down or str(exc)
            if first:
                self.reporter.warn(str(exc))
            return
        except Refused as exc:
            self._refused(item, exc)
            return
        with store.writing(self.engine) as conn:
            store.mark_sent(conn, message_id, email)
        with self.lock:
            self.report.sent += 1
        self.advance()

    def _refused(self, item: Item, exc: Refused) -> None:
        message_id, email = item
        answer = str(exc)
        if not exc.permanent:
            with store.writing(self.engine) as conn:
                store.mark_deferred(conn, message_id, answer)
            with self.lock:
                self.retry.append(item)
            self.reporter.warn(f"{email}: refused for now: {answer}")
            return
        with store.writing(self.engine) as conn:
            now_suppressed = store.mark_failed(
                conn,
                message_id,
                email,
                answer,
                self.settings.suppress_after if exc.address_fault else None,
            )
        with self.lock:
            self.report.failed += 1
            self.report.refusals.append(f"{email}: refused for good: {answer}")
        self.reporter.warn(f"{email}: refused for good: {answer} ({message_id})")
        if now_suppressed:
            self.reporter.warn(
                f"{email}: suppressed after repeated permanent refusals; "
                f"`digest subscribers enable {email}` re-enables it"
            )
        self.advance()


def deliver(
    engine: Engine,
    transports: Callable[[], Transport],
    settings: Settings,
    report: RunReport,
    reporter: Reporter,
    *,
    feed: Iterable[Item],
    advance: Advance,
    sleep: Callable[[float], None] = time.sleep,
    stop: threading.Event | None = None,
) -> None:
    """Send the messages of `feed` (which may still be composing them), marking each the
    moment the relay answered for it.

    A message is marked sent only after the transport accepted it, in its own transaction:
    a process killed between two messages leaves an exact record. The one window no SMTP
    client can close (accepted, then killed before that commit) resends a copy with the same
    Message-ID on the next run. When `stop` is set (the daemon got SIGTERM), the messages
    being sent are finished and the rest stays pending. `advance` moves the caller's
    progress bar once per message answered for good.
    """
    first = transports()
    try:
        first.__enter__()
    except DeliveryError as exc:
        left = sum(1 for _ in feed)  # whatever is still to be composed is stored, unsent
        if left:
            report.delivery_error = str(exc)
            report.deferred += left
            reporter.error(f"{exc}; {left} message(s) left pending")
        return
    lanes = [first, *(transports() for _ in range(first.lanes - 1))]
    pace = Pace.per_second(settings.smtp_rate_limit)
    queue_: list[Item] = []
    try:
        for attempt in range(settings.smtp_retries + 1):
            if attempt:
                if not queue_ or (stop is not None and stop.is_set()):
                    break
                wait = backoff(settings, attempt)
                reporter.info(
                    f"retrying {len(queue_)} message(s) in {wait:g}s "
                    f"(pass {attempt + 1} of {settings.smtp_retries + 1})"
                )
                if stop is not None:
                    if stop.wait(wait):
                        break
                else:
                    sleep(wait)
            one = _Pass(engine, settings, report, reporter, advance, pace, stop)
            one.run(feed if attempt == 0 else list(queue_), lanes)
            queue_ = one.retry
            if one.down and attempt == settings.smtp_retries and queue_:
                report.delivery_error = one.down
                reporter.error(f"{one.down}; giving up for this run")
    finally:
        for lane in lanes:
            lane.__exit__(None, None, None)
        with store.writing(engine) as conn:
            store.drop_sent_bytes(conn)
    report.deferred += len(queue_)
    if stop is not None and stop.is_set() and queue_:
        report.stopped = True
        reporter.info(f"stopped on request: {len(queue_)} message(s) left pending for the next run")
        return
    for message_id, email in queue_:
        reporter.warn(f"{email}: still refused, left pending for the next run ({message_id})")
