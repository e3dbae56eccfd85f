"""The outbox as the sender's ledger: each message read from the store just before it is sent,
each answer recorded in its own transaction the moment the relay gives it, and the rules of
suppression: refusals that blame an address are counted until it is suppressed, and one
accepted message forgives them."""

from __future__ import annotations

from .. import store
from ..domain.digest import Outgoing
from ..store import Database


def suppressing(failures: int, threshold: int, already: bool) -> bool:
    """An address is suppressed once `threshold` refusals that blame it came in a row (no
    accepted message between: one resets the count), and only once."""
    return failures >= threshold and not already


class StoreLedger:
    """`deliver.sender.Ledger` over the store."""

    def __init__(self, db: Database, suppress_after: int) -> None:
        self.db = db
        self.suppress_after = suppress_after

    def load(self, message_id: str) -> Outgoing | None:
        with self.db.reading() as conn:
            return store.outbox.outgoing(conn, message_id)

    def sent(self, message_id: str, recipient: str) -> None:
        with self.db.writing() as conn:
            store.outbox.mark_sent(conn, message_id)
            store.outbox.forget_refusals(conn, recipient)

    def deferred(self, message_id: str, answer: str) -> None:
        with self.db.writing() as conn:
            store.outbox.mark_deferred(conn, message_id, answer)

    def failed(self, message_id: str, recipient: str, answer: str, address_fault: bool) -> bool:
        with self.db.writing() as conn:
            store.outbox.mark_failed(conn, message_id, answer)
            if not address_fault:
                return False
            record = store.outbox.count_refusal(conn, recipient, answer)
            now = suppressing(
                record.failures, self.suppress_after, record.suppressed_at is not None
            )
            if now:
                store.outbox.suppress(conn, recipient)
                store.outbox.cancel_pending(conn, recipient, "address suppressed")
            return now

    def finished(self) -> None:
        with self.db.writing() as conn:
            store.outbox.drop_sent_bytes(conn)
