"""Sending a feed of stored messages: every one until the relay accepts it or refuses it for
good, over up to SMTP_MAX_CONNECTIONS connections at once and at most SMTP_RATE_LIMIT
messages a second. Transient answers are retried in later passes, spaced by exponential
backoff; what is still refused after the last pass stays pending for the next run.

Messages arrive as a feed of (Message-ID, recipient). Each is read from the ledger just
before it is sent, so a run never holds more than a few messages in memory, and each answer
is recorded in the ledger the moment it comes. The sender holds no database: the ledger is
the caller's (the daily run's outbox over the store, `jobs.outbox`).
"""

from __future__ import annotations

import queue
import sys
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Protocol

from ..domain.digest import Outgoing
from ..errors import DeliveryError, Refused
from ..pace import Pace
from ..progress import Advance, Reporter
from ..settings import SMTPSettings
from .transport import Transport

MAX_BACKOFF = 300.0
Item = tuple[str, str]  # (message_id, recipient)


class Ledger(Protocol):
    """Where the sender reads each message and records each answer, one transaction each."""

    def load(self, message_id: str) -> Outgoing | None:
        """The message if it is still owed (not sent or cancelled meanwhile)."""
        ...

    def sent(self, message_id: str, recipient: str) -> None: ...

    def deferred(self, message_id: str, answer: str) -> None: ...

    def failed(self, message_id: str, recipient: str, answer: str, address_fault: bool) -> bool:
        """A refusal for good; True when it got the address suppressed."""
        ...

    def finished(self) -> None:
        """Delivery is over for this run (the sent messages' bytes may go)."""
        ...


@dataclass
class Delivery:
    """What the relay answered, counted over every pass."""

    sent: int = 0
    failed: int = 0
    deferred: int = 0  # left pending for the next run
    refusals: list[str] = field(default_factory=list)
    error: str | None = None  # why delivery stopped before the feed was through
    stopped: bool = False  # asked to stop (SIGTERM to the daemon) with messages left


def backoff(smtp: SMTPSettings, attempt: int) -> float:
    """Seconds to wait before retry pass `attempt` (1-based)."""
    return min(smtp.retry_delay * 2 ** (attempt - 1), MAX_BACKOFF)


@dataclass
class _Pass:
    """One pass over a feed of messages by `lanes` senders, each holding one connection."""

    ledger: Ledger
    delivery: Delivery
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
        out = self.ledger.load(message_id)
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
        self.ledger.sent(message_id, email)
        with self.lock:
            self.delivery.sent += 1
        self.advance()

    def _refused(self, item: Item, exc: Refused) -> None:
        message_id, email = item
        answer = str(exc)
        if not exc.permanent:
            self.ledger.deferred(message_id, answer)
            with self.lock:
                self.retry.append(item)
            self.reporter.warn(f"{email}: refused for now: {answer}")
            return
        suppressed = self.ledger.failed(message_id, email, answer, exc.address_fault)
        with self.lock:
            self.delivery.failed += 1
            self.delivery.refusals.append(f"{email}: refused for good: {answer}")
        self.reporter.warn(f"{email}: refused for good: {answer} ({message_id})")
        if suppressed:
            self.reporter.warn(
                f"{email}: suppressed after repeated permanent refusals; "
                f"`digest subscribers enable {email}` re-enables it"
            )
        self.advance()


def open_lanes(transports: Callable[[], Transport]) -> list[Transport]:
    """The transports to send over, the first one connected: DeliveryError when the relay
    cannot be used at all (unreachable, TLS or login refused), before any message is taken."""
    first = transports()
    first.__enter__()
    return [first, *(transports() for _ in range(first.lanes - 1))]


def deliver(
    ledger: Ledger,
    lanes: list[Transport],
    smtp: SMTPSettings,
    reporter: Reporter,
    *,
    feed: Iterable[Item],
    advance: Advance,
    delivery: Delivery | None = None,
    sleep: Callable[[float], None] = time.sleep,
    stop: threading.Event | None = None,
) -> Delivery:
    """Send the messages of `feed` (which may still be composing them) over `lanes` (from
    `open_lanes`, closed here), recording each answer in `ledger` the moment it comes.

    A message is recorded sent only after the transport accepted it, in its own transaction:
    a process killed between two messages leaves an exact record. The one window no SMTP
    client can close (accepted, then killed before that commit) resends a copy with the same
    Message-ID on the next run. When `stop` is set (the daemon got SIGTERM), the messages
    being sent are finished and the rest stays pending. `advance` moves the caller's
    progress bar once per message answered for good. The answers are counted into `delivery`
    as they come, so a caller that owns it keeps the count when something interrupts this.
    """
    delivery = Delivery() if delivery is None else delivery
    pace = Pace.per_second(smtp.rate_limit)
    left: list[Item] = []
    try:
        for attempt in range(smtp.retries + 1):
            if attempt:
                if not left or (stop is not None and stop.is_set()):
                    break
                if _wait_before_retry(smtp, attempt, len(left), reporter, sleep, stop):
                    break
            one = _Pass(ledger, delivery, reporter, advance, pace, stop)
            one.run(feed if attempt == 0 else list(left), lanes)
            left = one.retry
            if one.down and attempt == smtp.retries and left:
                delivery.error = one.down
                reporter.error(f"{one.down}; giving up for this run")
    finally:
        for lane in lanes:
            lane.__exit__(None, None, None)
        ledger.finished()
    delivery.deferred += len(left)
    if stop is not None and stop.is_set() and left:
        delivery.stopped = True
        reporter.info(f"stopped on request: {len(left)} message(s) left pending for the next run")
        return delivery
    for message_id, email in left:
        reporter.warn(f"{email}: still refused, left pending for the next run ({message_id})")
    return delivery


def _wait_before_retry(
    smtp: SMTPSettings,
    attempt: int,
    count: int,
    reporter: Reporter,
    sleep: Callable[[float], None],
    stop: threading.Event | None,
) -> bool:
    """Wait out the backoff before pass `attempt`; True if asked to stop meanwhile."""
    wait = backoff(smtp, attempt)
    reporter.info(
        f"retrying {count} message(s) in {wait:g}s (pass {attempt + 1} of {smtp.retries + 1})"
    )
    if stop is not None:
        return stop.wait(wait)
    sleep(wait)
    return False
