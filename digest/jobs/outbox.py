"""The outbox as a worker's ledger (`deliver.sender.Ledger`): messages leased to this worker
a few at a time, each read from the store just before it is sent, each answer recorded in its
own transaction the moment the relay gives it; and the rules of suppression: refusals that
blame an address are counted until it is suppressed, and one accepted message forgives them."""

from __future__ import annotations

import contextlib
import os
import secrets
import socket
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import timedelta

from .. import store
from ..deliver.sender import Item
from ..domain.digest import Outgoing
from ..store import Database, Tx
from ..store.lock import gone

OWNERS_CHECKED_EVERY = 2.0  # seconds between looks at which lease owners are still there
DROP_BYTES_EVERY = 100  # messages sent between drops of the sent messages' bytes
FRESH_FOR = 0.5  # seconds a message read with its lease is taken to be still pending
KEPT = 1000  # messages whose bytes a process keeps, after storing them, for its own lanes


def worker_id() -> str:
    """This process, as leases and runs name it: host, pid, and a random part."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


def suppressing(failures: int, threshold: int, already: bool) -> bool:
    """An address is suppressed once `threshold` refusals that blame it came in a row (no
    accepted message between: one resets the count), and only once."""
    return failures >= threshold and not already


def gone_owners(db: Database, conn: Tx, me: str | None = None) -> set[str]:
    """The workers holding leases (on pending messages, or on ones cancelled in their hands)
    that are gone."""
    return gone(db, store.leases.lease_owners(conn, cancelled=True) - {me})


def free_abandoned(db: Database, conn: Tx) -> None:
    """Messages cancelled while a worker held them, whose worker then went away (or whose
    lease ran out) before saying whether the relay took them: their papers are free again."""
    store.outbox.free_abandoned(conn, gone_owners(db, conn))


class Kept:
    """The bytes of the messages this process stored lately, so its lanes send them without
    reading them back; at most `limit`, the oldest let go first (those are read back)."""

    def __init__(self, limit: int = KEPT) -> None:
        self.limit = limit
        self.raw: dict[str, bytes] = {}
        self.lock = threading.Lock()

    def add(self, messages: Iterable[tuple[str, bytes]]) -> None:
        with self.lock:
            self.raw.update(messages)
            while len(self.raw) > self.limit:
                del self.raw[next(iter(self.raw))]

    def having(self, ids: Iterable[str]) -> set[str]:
        with self.lock:
            return {mid for mid in ids if mid in self.raw}

    def take(self, message_id: str) -> bytes | None:
        with self.lock:
            return self.raw.pop(message_id, None)


class Marks:
    """The "sent" marks of all the lanes of a process, committed together: a lane's mark
    joins the next commit and the lane waits for it, so no lane sends another message before
    its last one is recorded (the crash window stays one message per connection), while
    the lanes share the cost of committing."""

    def __init__(self, write: Callable[[list[Item]], None]) -> None:
        self.write = write
        self.cond = threading.Condition()
        self.waiting: list[_Mark] = []
        self.busy = False

    def record(self, item: Item) -> None:
        mark = _Mark(item)
        with self.cond:
            self.waiting.append(mark)
            while not mark.done and self.busy:
                self.cond.wait()
            if mark.done:
                return mark.check()
            self.busy = True
            group, self.waiting = self.waiting, []
        error: str | None = "interrupted"
        try:
            self.write([m.item for m in group])
            error = None
        except Exception as exc:  # each lane of the group says it could not be recorded
            error = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        finally:
            with self.cond:
                for m in group:
                    m.done, m.error = True, error
                self.busy = False
                self.cond.notify_all()
        mark.check()


@dataclass
class _Mark:
    item: Item
    done: bool = False
    error: str | None = None

    def check(self) -> None:
        if self.error is not None:
            raise NotRecorded(self.error)


class NotRecorded(Exception):
    """A commit that held this lane's "sent" mark failed."""


class StoreLedger:
    """The ledger of one worker over the store. A chunk of messages is leased and read in
    one transaction (the bytes of those this process just stored are taken from memory);
    a message read more than FRESH_FOR seconds before its turn is read again, so one
    cancelled meanwhile is not sent."""

    def __init__(
        self,
        db: Database,
        worker: str,
        suppress_after: int,
        lease: float,
        kept: Kept | None = None,
    ) -> None:
        self.db = db
        self.worker = worker
        self.suppress_after = suppress_after
        self.lease = timedelta(seconds=lease)
        self.kept = kept or Kept(0)
        self._gone: tuple[float, set[str]] = (float("-inf"), set())
        self._sent = 0
        self._lock = threading.Lock()
        self._ready: dict[str, tuple[float, Outgoing]] = {}
        self._marks = Marks(self._write_marks)

    def _absent(self) -> set[str]:
        """The lease owners that are gone (looked up every few seconds, not per claim). The
        papers of messages cancelled while such a worker held them are freed then."""
        checked, absent = self._gone
        if time.monotonic() - checked > OWNERS_CHECKED_EVERY:
            with self.db.reading() as conn:  # a look first, so most checks do not write
                absent = gone_owners(self.db, conn, self.worker)
                abandoned = store.outbox.abandoned(conn, absent)
            if abandoned:
                self.db.retried(lambda conn: store.outbox.free_abandoned(conn, absent))
            self._gone = (time.monotonic(), absent)
        return absent

    def claim(self, limit: int) -> list[Item]:
        absent = self._absent()
        with self.db.reading() as conn:  # a look first: most looks find nothing while a run fills
            if not store.leases.claimable(conn, absent, at_least=1):
                return []

        def work(conn: Tx) -> tuple[list[Item], dict[str, Outgoing]]:
            items = store.leases.claim(conn, self.worker, limit, self.lease, absent)
            ids = [mid for mid, _ in items]
            return items, store.outbox.ready(conn, ids, self.worker, self.kept.having(ids))

        items, ready = self.db.retried(work)
        at = time.monotonic()
        with self._lock:
            self._ready.update((mid, (at, out)) for mid, out in ready.items())
        return items

    def renew(self, ids: Sequence[str], seconds: float) -> None:
        lease = timedelta(seconds=seconds)
        self.db.retried(lambda conn: store.leases.renew(conn, self.worker, ids, lease))

    def release(self, ids: Sequence[str]) -> None:
        def work(conn: Tx) -> None:
            store.outbox.free_undelivered(conn, ids, self.worker)
            store.leases.unlease(conn, self.worker, ids)

        self.db.retried(work)
        with self._lock:
            for mid in ids:
                self._ready.pop(mid, None)

    def load(self, message_id: str) -> Outgoing | None:
        with self._lock:
            at, out = self._ready.pop(message_id, (float("-inf"), None))
        if out is None or time.monotonic() - at > FRESH_FOR:
            with self.db.reading() as conn:
                known = self.kept.having([message_id])
                out = store.outbox.ready(conn, [message_id], self.worker, known).get(message_id)
            if out is None:
                return None
        if out.raw:
            return out
        raw = self.kept.take(message_id)
        if raw is None:  # let go from memory meanwhile: read it
            with self.db.reading() as conn:
                return store.outbox.ready(conn, [message_id], self.worker).get(message_id)
        return replace(out, raw=raw)

    def skipped(self, message_id: str) -> None:
        self.db.retried(lambda conn: store.outbox.free_undelivered(conn, [message_id], self.worker))

    def sent(self, message_id: str, recipient: str) -> None:
        self._marks.record((message_id, recipient))
        with self._lock:
            self._sent += 1
            drop = self._sent % DROP_BYTES_EVERY == 0
        if drop:  # soon after they went, so a long run never holds its whole mailing
            # The message is recorded: bytes this drop could not take go with the next one.
            with contextlib.suppress(Exception):
                self.finished()

    def _write_marks(self, sent: list[Item]) -> None:
        with self.db.writing() as conn:
            store.outbox.mark_sent(conn, sent)

    def deferred(self, message_id: str, answer: str) -> None:
        self.db.retried(
            lambda conn: store.outbox.mark_deferred(conn, message_id, answer, self.worker)
        )

    def failed(self, message_id: str, recipient: str, answer: str, address_fault: bool) -> bool:
        def work(conn: Tx) -> bool:
            store.outbox.mark_failed(conn, message_id, answer, self.worker)
            if not address_fault:
                return False
            record = store.suppressions.count_refusal(conn, recipient, answer)
            now = suppressing(
                record.failures, self.suppress_after, record.suppressed_at is not None
            )
            if now:
                store.suppressions.suppress(conn, recipient)
                store.outbox.cancel_pending(conn, recipient, "address suppressed")
            return now

        return self.db.retried(work)

    def finished(self) -> None:
        self.db.retried(store.outbox.drop_sent_bytes)
