"""The outbox (every decided message, its bytes until the relay accepts them, its status), the
ledger (the papers each pending or sent message claims for its subscriber), and the addresses
refused for good. What counts as suppressed, and when, is the caller's rule."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

from sqlalchemy import Connection, bindparam, delete, func, insert, select, update

from ..domain.digest import CANCELLED, FAILED, PENDING, SENT, Digest, Outgoing
from ..domain.records import MessageRecord, Suppression
from ..domain.subscriber import ACTIVE
from .rows import chunks, insert_many, now
from .schema import deliveries, messages, subscribers, suppressions


def add_pending(
    conn: Connection, composed: Sequence[tuple[Digest, str, bytes]], run_id: int | None
) -> None:
    """Store decided digests (digest, subject, bytes), and claim their papers for their
    subscribers.

    A digest that failed for good and is decided again unchanged comes back under the same
    Message-ID (it is a hash of subscriber, day and papers): its row is reused.
    """
    if not composed:
        return
    stamp = now()
    rows = [
        {
            "message_id": d.message_id,
            "subscriber_email": d.subscriber.email,
            "run_id": run_id,
            "day": d.day,
            "subject": subject,
            "status": PENDING,
            "detail": None,
            "raw": raw,
            "sent_at": None,
        }
        for d, subject, raw in composed
    ]
    ids = [r["message_id"] for r in rows]
    known: set[str] = set()
    for chunk in chunks(ids):
        known.update(
            conn.execute(
                select(messages.c.message_id).where(messages.c.message_id.in_(chunk))
            ).scalars()
        )
    fresh = [{**r, "created_at": stamp} for r in rows if r["message_id"] not in known]
    if fresh:
        conn.execute(insert(messages), fresh)
    for r in rows:
        if r["message_id"] in known:
            values = {k: v for k, v in r.items() if k != "message_id"}
            conn.execute(
                update(messages)
                .where(messages.c.message_id == r["message_id"], messages.c.status != SENT)
                .values(**values)
            )
    insert_many(
        conn,
        deliveries,
        ("subscriber_email", "paper_key", "message_id", "included", "decided_at"),
        [
            (d.subscriber.email, key, d.message_id, included, stamp)
            for d, _, _ in composed
            for key, included in d.claims
        ],
    )


def claimed(conn: Connection, emails: Sequence[str]) -> dict[str, set[str]]:
    """Keys of every paper claimed for each of `emails` by a pending or sent digest (including
    those passed over below its cut): what the diff runs against."""
    out: dict[str, set[str]] = {e: set() for e in emails}
    for chunk in chunks(emails):
        stmt = select(deliveries.c.subscriber_email, deliveries.c.paper_key).where(
            deliveries.c.subscriber_email.in_(chunk)
        )
        for email, key in conn.execute(stmt):
            out[email].add(key)
    return out


def pending(conn: Connection) -> list[tuple[str, str]]:
    """(message_id, recipient) of every pending message, oldest first."""
    stmt = (
        select(messages.c.message_id, messages.c.subscriber_email)
        .where(messages.c.status == PENDING)
        .order_by(messages.c.created_at, messages.c.message_id)
    )
    return [(r.message_id, r.subscriber_email) for r in conn.execute(stmt)]


# Built once: constructing a statement costs more than SQLite running it, and these two run
# for every message sent.
_OUTGOING = select(messages).where(
    messages.c.message_id == bindparam("mid"), messages.c.status == PENDING
)
_MARK_SENT = (
    update(messages)
    .where(messages.c.message_id == bindparam("mid"))
    .values(status=SENT, sent_at=bindparam("at"), attempts=messages.c.attempts + 1, detail=None)
)
_FORGET = delete(suppressions).where(suppressions.c.email == bindparam("address"))


def outgoing(conn: Connection, message_id: str) -> Outgoing | None:
    """The message, if it is still pending (a message is read just before it is sent, so the
    outbox streams and never holds a run's worth of messages in memory)."""
    row = conn.execute(_OUTGOING, {"mid": message_id}).first()
    if row is None or row.raw is None:
        return None
    return Outgoing(
        row.message_id, row.subscriber_email, row.day, row.subject, row.raw, row.attempts
    )


def mark_sent(conn: Connection, message_id: str) -> None:
    """The relay accepted the message. Its bytes are dropped later, in bulk
    (`drop_sent_bytes`): freeing a blob's pages in the transaction that records a delivery
    doubled its cost."""
    conn.execute(_MARK_SENT, {"mid": message_id, "at": now()})


def forget_refusals(conn: Connection, email: str) -> None:
    """Forget the refusals counted against an address."""
    conn.execute(_FORGET, {"address": email})


def drop_sent_bytes(conn: Connection) -> None:
    """Forget the bytes of messages the relay accepted: the outbox keeps only what is owed."""
    conn.execute(
        update(messages)
        .where(messages.c.status == SENT, messages.c.raw.is_not(None))
        .values(raw=None)
    )


def mark_deferred(conn: Connection, message_id: str, answer: str) -> None:
    """A transient refusal: stays pending for the next attempt, the relay's answer kept."""
    conn.execute(
        update(messages)
        .where(messages.c.message_id == message_id)
        .values(attempts=messages.c.attempts + 1, detail=answer)
    )


def _release(conn: Connection, where: Any, status: str, detail: str, **values: Any) -> None:
    """End messages without delivery and free the papers they claimed."""
    ids = list(conn.execute(select(messages.c.message_id).where(where)).scalars())
    for chunk in chunks(ids):
        conn.execute(
            update(messages)
            .where(messages.c.message_id.in_(chunk))
            .values(status=status, detail=detail, raw=None, **values)
        )
        conn.execute(delete(deliveries).where(deliveries.c.message_id.in_(chunk)))


def _pending_to(email: str) -> Any:
    return (messages.c.subscriber_email == email) & (messages.c.status == PENDING)


def mark_failed(conn: Connection, message_id: str, answer: str) -> None:
    """A permanent refusal. The papers are freed (a later digest may carry them if the
    address recovers)."""
    _release(
        conn,
        messages.c.message_id == message_id,
        FAILED,
        answer,
        attempts=messages.c.attempts + 1,
    )


def count_refusal(conn: Connection, email: str, answer: str) -> Suppression:
    """One more refusal that blames the address: its record after counting it."""
    row = conn.execute(select(suppressions).where(suppressions.c.email == email)).first()
    if row is None:
        stamp = now()
        conn.execute(
            insert(suppressions).values(
                email=email, failures=1, last_answer=answer, first_failed_at=stamp
            )
        )
        return Suppression(email, 1, answer, stamp, None)
    failures = row.failures + 1
    conn.execute(
        update(suppressions)
        .where(suppressions.c.email == email)
        .values(failures=failures, last_answer=answer)
    )
    return Suppression(email, failures, answer, row.first_failed_at, row.suppressed_at)


def suppress(conn: Connection, email: str) -> None:
    """Mark the address suppressed (its refusals counted by `count_refusal`)."""
    conn.execute(
        update(suppressions).where(suppressions.c.email == email).values(suppressed_at=now())
    )


def cancel_pending(conn: Connection, email: str, why: str) -> None:
    """Cancel what is still pending to `email` (it unsubscribed, paused or was removed)."""
    _release(conn, _pending_to(email), CANCELLED, why)


def cancel_pending_to_absent(conn: Connection, suppressed: Collection[str]) -> int:
    """Cancel pending messages to addresses that no longer receive digests: gone, not
    active, paused, or suppressed. Returns how many addresses."""
    receiving = select(subscribers.c.email).where(
        subscribers.c.status == ACTIVE, subscribers.c.paused.is_(False)
    )
    owed = select(messages.c.subscriber_email).where(messages.c.status == PENDING).distinct()
    stale = set(conn.execute(owed.where(messages.c.subscriber_email.not_in(receiving))).scalars())
    stale |= set(conn.execute(owed).scalars()) & set(suppressed)
    for email in stale:
        _release(conn, _pending_to(email), CANCELLED, "no longer an active subscriber")
    return len(stale)


def suppressed(conn: Connection) -> set[str]:
    stmt = select(suppressions.c.email).where(suppressions.c.suppressed_at.is_not(None))
    return set(conn.execute(stmt).scalars())


def unsuppress(conn: Connection, email: str) -> bool:
    """Forget an address's refusals; False if none were counted."""
    return bool(conn.execute(delete(suppressions).where(suppressions.c.email == email)).rowcount)


def count(conn: Connection, status: str) -> int:
    stmt = select(func.count()).select_from(messages).where(messages.c.status == status)
    return int(conn.execute(stmt).scalar_one())


def latest(conn: Connection, status: str, limit: int = 20) -> list[MessageRecord]:
    """The most recent messages with `status`."""
    rows = conn.execute(
        select(
            messages.c.message_id,
            messages.c.subscriber_email,
            messages.c.day,
            messages.c.attempts,
            messages.c.detail,
            messages.c.created_at,
        )
        .where(messages.c.status == status)
        .order_by(messages.c.created_at.desc())
        .limit(limit)
    )
    return [MessageRecord(*row) for row in rows]


def suppressions_now(conn: Connection) -> list[Suppression]:
    """The addresses suppressed now, the longest suppressed first."""
    rows = conn.execute(
        select(
            suppressions.c.email,
            suppressions.c.failures,
            suppressions.c.last_answer,
            suppressions.c.first_failed_at,
            suppressions.c.suppressed_at,
        )
        .where(suppressions.c.suppressed_at.is_not(None))
        .order_by(suppressions.c.suppressed_at)
    )
    return [Suppression(*row) for row in rows]
