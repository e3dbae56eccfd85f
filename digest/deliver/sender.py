"""Sending what the outbox holds: lanes, each holding one connection to the relay, lease
messages from the ledger a few at a time and send each until the relay accepts it or refuses
it for good, at most SMTP_RATE_LIMIT messages a second over all lanes. Transient answers are
retried in later passes, spaced by exponential backoff; what is still refused after the last
pass stays pending for the next run.

Several workers (runs, `digest send`) may send from one outbox at once: a message is sent by
the worker that leased it, and each answer is recorded in the ledger the moment it comes.
The sender holds no database: the ledger is the caller's (`jobs.outbox`).
"""

from __future__ import annotations

import queue
import sys
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..domain.digest import Outgoing
from ..errors import DeliveryError, Refused
from ..pace import Pace, Window
from ..progress import Advance, Reporter
from ..settings import SMTPSettings
from .transport import Transport

MAX_BACKOFF = 300.0
MIN_LEASE = 300.0  # seconds
CHUNK = 8  # messages a lane leases at once
POLL = 0.2  # seconds between looks at the outbox while more may come
Item = tuple[str, str]  # (message_id, recipient)


class Ledger(Protocol):
    """Where the sender leases messages, reads each one, and records each answer."""

    def claim(self, limit: int) -> list[Item]:
        """Lease up to `limit` pending messages, oldest first."""
        ...

    def renew(self, ids: Sequence[str], seconds: float) -> None: ...

    def load(self, message_id: str) -> Outgoing | None:
        """The message if it is still pending and ours."""
        ...

    def skipped(self, message_id: str) -> None:
        """A leased message that was not pending any more when its turn came."""
        ...

    def sent(self, message_id: str, recipient: str) -> None: ...

    def deferred(self, message_id: str, answer: str) -> None: ...

    def failed(self, message_id: str, recipient: str, answer: str, address_fault: bool) -> bool:
        """A refusal for good; True when it got the address suppressed."""
        ...

    def release(self, ids: Sequence[str]) -> None:
        """Give these leases back, for another worker or the next run."""
        ...

    def finished(self) -> None:
        """Delivery is over for this worker (the sent messages' bytes may go)."""
        ...


@dataclass
class Delivery:
    """What the relay answered, counted over every pass."""

    sent: int = 0
    failed: int = 0
    deferred: int = 0  # left pending for the next run
    unrecorded: int = 0  # accepted by the relay, but recording that failed
    refusals: list[str] = field(default_factory=list)
    error: str | None = None  # why delivery stopped before the outbox was through
    stopped: bool = False  # asked to stop (SIGTERM to the daemon) with messages left


def backoff(smtp: SMTPSettings, attempt: int) -> float:
    """Seconds to wait before retry pass `attempt` (1-based)."""
    return min(smtp.retry_delay * 2 ** (attempt - 1), MAX_BACKOFF)


def lease_seconds(smtp: SMTPSettings) -> float:
    """How long a lease holds: long enough for a chunk of messages to a slow relay, so a
    message is never taken from a worker still sending it."""
    per_message = 4 * smtp.timeout + (1.0 / smtp.rate_limit if smtp.rate_limit else 0.0)
    return max(MIN_LEASE, 2 * CHUNK * per_message)


class _Held:
    """The messages this worker holds a lease on and has not answered for good: those being
    sent, those the relay deferred, and any it accepted but could not be recorded. A thread
    renews their leases while the worker lives, so none is ever taken from it."""

    def __init__(self, ledger: Ledger, lease: float, reporter: Reporter) -> None:
        self.ledger = ledger
        self.lease = lease
        self.reporter = reporter
        self.ids: dict[str, None] = {}
        self.lock = threading.Lock()
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._renew, name="leases", daemon=True)

    def take(self, chunk: list[Item]) -> list[Item]:
        """The messages of a chunk just leased, less any this worker holds already."""
        with self.lock:
            fresh = [item for item in chunk if item[0] not in self.ids]
            self.ids.update((mid, None) for mid, _ in fresh)
        return fresh

    def answered(self, message_id: str) -> None:
        with self.lock:
            self.ids.pop(message_id, None)

    def all(self) -> list[str]:
        with self.lock:
            return list(self.ids)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.done.set()
        if self.thread.is_alive():
            self.thread.join()

    def _renew(self) -> None:
        while not self.done.wait(self.lease / 3):
            ids = self.all()
            if not ids:
                continue
            try:
                self.ledger.renew(ids, self.lease)
            except Exception as exc:  # the next try comes well before the leases run out
                self.reporter.warn(f"could not renew {len(ids)} lease(s): {exc}")


class _LaneBroken(Exception):
    """The lane cannot go on (an accepted message could not be recorded)."""


@dataclass
class _Pass:
    """One pass by `lanes` senders, each holding one connection: over the messages this
    worker already holds (`mine`), then over the outbox, leasing as they go, while `more()`
    says more may come. Once the relay is down, what is left is only collected for a later
    pass."""

    ledger: Ledger
    delivery: Delivery
    reporter: Reporter
    advance: Advance
    pace: Pace
    window: Window
    stop: threading.Event | None
    held: _Held
    more: Callable[[], bool] = lambda: False
    wake: threading.Condition = field(default_factory=threading.Condition)
    retry: list[Item] = field(default_factory=list)
    down: str | None = None  # why the relay cannot be used any more in this pass
    lock: threading.Lock = field(default_factory=threading.Lock)

    halt: threading.Event = field(default_factory=threading.Event)

    def stopping(self) -> bool:
        return self.halt.is_set() or (self.stop is not None and self.stop.is_set())

    def run(self, mine: Iterable[Item], lanes: list[Transport]) -> None:
        # A sending thread waits for the interpreter lock after each relay answer while the
        # run composes; the default 5 ms switch interval would make that wait the bottleneck.
        interval = sys.getswitchinterval()
        sys.setswitchinterval(min(interval, 0.0005))
        held: queue.SimpleQueue[Item] = queue.SimpleQueue()
        for item in mine:
            held.put(item)
        threads = [
            _Thread(target=self._lane, args=(t, held), name=f"smtp-{i}", daemon=True)
            for i, t in enumerate(lanes)
        ]
        for t in threads:
            t.start()
        try:
            _join(threads, self.halt)
        finally:
            sys.setswitchinterval(interval)

    def _chunks(self, held: queue.SimpleQueue[Item]) -> Iterable[list[Item]]:
        """What this lane sends, a chunk at a time: what the worker holds, then what it
        leases from the outbox."""
        while not self.stopping():
            try:
                yield [held.get_nowait()]
                continue
            except queue.Empty:
                pass
            if self.down is not None:  # leave the rest of the outbox to workers that can send
                return
            chunk = self.ledger.claim(CHUNK)
            if chunk:
                yield self.held.take(chunk)
            elif self.more():
                with self.wake:
                    self.wake.wait(POLL)
            else:
                return

    def _lane(self, transport: Transport, held: queue.SimpleQueue[Item]) -> None:
        try:
            for chunk in self._chunks(held):
                for i, item in enumerate(chunk):
                    if self.stopping() or self.down is not None:
                        with self.lock:
                            self.retry.extend(chunk[i:])
                        break
                    try:
                        self._guarded(transport, item)
                    except _LaneBroken:  # the rest of its chunk goes to the other lanes' pass
                        with self.lock:
                            self.retry.extend(chunk[i + 1 :])
                        return
        except Exception as exc:  # a bug must not end the run: what it holds stays pending
            with self.lock:
                self.down = self.down or f"{type(exc).__name__}: {exc}"
            self.reporter.error(f"sending stopped unexpectedly: {exc}")

    def _guarded(self, transport: Transport, item: Item) -> None:
        try:
            self._send(transport, item)
        except _LaneBroken:
            raise
        except Exception as exc:  # a bug must not strand the message: keep it pending, say so
            with self.lock:
                self.retry.append(item)
                self.down = self.down or f"{type(exc).__name__}: {exc}"
            self.reporter.error(f"{item[1]}: delivery failed unexpectedly: {exc}")

    def _send(self, transport: Transport, item: Item) -> None:
        message_id = item[0]
        if not self.window.enter(self.stop):
            with self.lock:
                self.retry.append(item)
            return
        try:
            if not self.pace.wait(self.stop):
                self.window.leave()
                with self.lock:
                    self.retry.append(item)
                return
            out = self.ledger.load(message_id)  # after the waits: a cancellation is seen
            if out is None:  # cancelled meanwhile, or no longer ours
                self.window.leave()
                self.ledger.skipped(message_id)
                self.held.answered(message_id)
                return
            try:
                transport.send(out)
            finally:
                self.window.leave()
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
        self._accepted(item)

    def _accepted(self, item: Item) -> None:
        """The relay took it: record that, or stop this lane without ever sending it again in
        this run (the next run sends it once more, under the same Message-ID)."""
        message_id, email = item
        try:
            self.ledger.sent(message_id, email)
        except Exception as exc:  # still held, so no lane here takes it again
            with self.lock:
                self.delivery.unrecorded += 1
            self.reporter.error(
                f"{email}: the relay accepted {message_id}, but recording that failed ({exc}); "
                "this connection stops, and the next run sends it again under the same "
                "Message-ID"
            )
            raise _LaneBroken from None
        self.held.answered(message_id)
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
        self.held.answered(message_id)
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


class _Thread(threading.Thread):
    """A thread whose end can be waited for again after Ctrl-C interrupted a wait: before
    Python 3.13, `join()` interrupted by KeyboardInterrupt takes the thread for ended
    (CPython gh-90882), so a second `join()` returns at once while it still runs."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.ended = threading.Event()

    def run(self) -> None:
        try:
            super().run()
        finally:
            self.ended.set()


def _join(threads: Sequence[_Thread], halt: threading.Event) -> None:
    """Wait for the lanes; interrupted (Ctrl-C), let each finish and record the message it
    is sending, then go on interrupting."""
    try:
        for t in threads:
            t.ended.wait()
    except BaseException:
        halt.set()
        for t in threads:
            t.ended.wait()
        raise


def open_lanes(transports: Callable[[], Transport]) -> list[Transport]:
    """The transports to send over, the first one connected: DeliveryError when the relay
    cannot be used at all (unreachable, TLS or login refused), before any message is taken."""
    first = transports()
    first.__enter__()
    return [first, *(transports() for _ in range(first.lanes - 1))]


class Sender:
    """The lanes of one worker: `start()` sends from the outbox while the caller fills it
    (`notify()` after each batch stored), `finish()` waits for the outbox to run dry, then
    retries what the relay deferred, and closes the lanes.

    A message is recorded sent only after the relay accepted it, in its own transaction: a
    process killed between two messages leaves an exact record. The one window no SMTP
    client can close (accepted, then killed before that commit) resends a copy with the same
    Message-ID on the next run. When `stop` is set (the daemon got SIGTERM), the messages
    being sent are finished and the rest stays pending. `advance` moves the caller's
    progress bar once per message answered for good. The answers are counted into
    `delivery` as they come, so a caller that owns it keeps the count when something
    interrupts this."""

    def __init__(
        self,
        ledger: Ledger,
        lanes: list[Transport],
        smtp: SMTPSettings,
        reporter: Reporter,
        *,
        advance: Advance,
        more: Callable[[], bool] = lambda: False,
        delivery: Delivery | None = None,
        stop: threading.Event | None = None,
    ) -> None:
        self.ledger = ledger
        self.lanes = lanes
        self.smtp = smtp
        self.reporter = reporter
        self.stop = stop
        self.delivery = Delivery() if delivery is None else delivery
        self.pace = Pace.per_second(smtp.rate_limit)
        self.window = Window.per_second(smtp.rate_limit)
        self.held = _Held(ledger, lease_seconds(smtp), reporter)
        self.halt = threading.Event()
        self.first = self._pass(more, advance)
        self.advance = advance
        self.thread = _Thread(target=self.first.run, args=((), lanes), daemon=True)
        self.finished = False

    def _pass(self, more: Callable[[], bool], advance: Advance) -> _Pass:
        return _Pass(
            self.ledger,
            self.delivery,
            self.reporter,
            advance,
            self.pace,
            self.window,
            self.stop,
            self.held,
            more=more,
            halt=self.halt,
        )

    def start(self) -> None:
        self.held.start()
        self.thread.start()

    @property
    def sending(self) -> bool:
        """Still taking messages from the outbox (not stopped, the relay not down)."""
        return self.thread.is_alive() and self.first.down is None and not self.first.stopping()

    def notify(self) -> None:
        """More messages were stored: wake the lanes waiting for them."""
        with self.first.wake:
            self.first.wake.notify_all()

    def abort(self) -> Delivery:
        """Stop at once (the run is failing): the messages being sent are finished, the
        lanes closed, and every other lease given back (unless `finish()` got that far)."""
        self.halt.set()
        return self.delivery if self.finished else self.finish()

    def finish(self, sleep: Callable[[float], None] = time.sleep) -> Delivery:
        try:
            self.notify()
            _join([self.thread], self.halt)
            left, down = self.first.retry, self.first.down
            for attempt in range(1, self.smtp.retries + 1):
                if not left or self.halt.is_set() or (self.stop is not None and self.stop.is_set()):
                    break
                if self._wait(attempt, left, sleep):
                    break
                again = self._pass(lambda: False, self.advance)
                again.run(list(left), self.lanes)
                left, down = again.retry, again.down
            if down and left:
                self.delivery.error = down
                self.reporter.error(f"{down}; giving up for this run")
        finally:
            self.held.stop()
            for lane in self.lanes:
                lane.__exit__(None, None, None)
            self.ledger.finished()
        self.ledger.release(self.held.all())
        self._left(left)
        self.finished = True
        return self.delivery

    def _wait(self, attempt: int, left: list[Item], sleep: Callable[[float], None]) -> bool:
        """Wait out the backoff before pass `attempt`, holding on to the deferred messages;
        True if asked to stop meanwhile."""
        wait = backoff(self.smtp, attempt)
        self.reporter.info(
            f"retrying {len(left)} message(s) in {wait:g}s "
            f"(pass {attempt + 1} of {self.smtp.retries + 1})"
        )
        if self.stop is not None:
            return self.stop.wait(wait)
        sleep(wait)
        return False

    def _left(self, left: list[Item]) -> None:
        self.delivery.deferred += len(left)
        if self.stop is not None and self.stop.is_set() and left:
            self.delivery.stopped = True
            self.reporter.info(
                f"stopped on request: {len(left)} message(s) left pending for the next run"
            )
            return
        for message_id, email in left:
            self.reporter.warn(
                f"{email}: still refused, left pending for the next run ({message_id})"
            )
