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
from collections.abc import Sequence
from datetime import timedelta

from .. import store
from ..deliver.sender import Item
from ..domain.digest import Outgoing
from ..store import Database, Tx
from ..store.lock import gone

OWNERS_CHECKED_EVERY = 2.0  # seconds between looks at which lease owners are still there
DROP_BYTES_EVERY = 100  # messages sent between drops of the sent messages' bytes


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


class StoreLedger:
    """The ledger of one worker over the store."""

    def __init__(self, db: Database, worker: str, suppress_after: int, lease: float) -> None:
        self.db = db
        self.worker = worker
        self.suppress_after = suppress_after
        self.lease = timedelta(seconds=lease)
        self._gone: tuple[float, set[str]] = (float("-inf"), set())
        self._sent = 0
        self._lock = threading.Lock()

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
        return self.db.retried(
            lambda conn: store.leases.claim(conn, self.worker, limit, self.lease, absent)
        )

    def renew(self, ids: Sequence[str], seconds: float) -> None:
        lease = timedelta(seconds=seconds)
        self.db.retried(lambda conn: store.leases.renew(conn, self.worker, ids, lease))

    def release(self, ids: Sequence[str]) -> None:
        def work(conn: Tx) -> None:
            store.outbox.free_undelivered(conn, ids, self.worker)
            store.leases.unlease(conn, self.worker, ids)

        self.db.retried(work)

    def load(self, message_id: str) -> Outgoing | None:
        with self.db.reading() as conn:
            return store.outbox.outgoing(conn, message_id, self.worker)

    def skipped(self, message_id: str) -> None:
        self.db.retried(lambda conn: store.outbox.free_undelivered(conn, [message_id], self.worker))

    def sent(self, message_id: str, recipient: str) -> None:
        with self.db.committing() as conn:
            store.outbox.mark_sent(conn, message_id, recipient)
        with self._lock:
            self._sent += 1
            drop = self._sent % DROP_BYTES_EVERY == 0
        if drop:  # soon after they went, so a long run never holds its whole mailing
            # The message is recorded: bytes this drop could not take go with the next one.
            with contextlib.suppress(Exception):
                self.finished()

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
