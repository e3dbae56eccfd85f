"""The outbox (every decided message and its status; its bytes until the relay accepts them),
the ledger (the papers each pending or sent message carries to its subscriber), and the
addresses refused for good. What counts as suppressed, and when, is the caller's rule."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, bindparam, delete, func, insert, select, update

from ..domain.digest import CANCELLED, FAILED, PENDING, SENT, Digest, Outgoing
from ..domain.records import MessageRecord, Suppression
from ..domain.subscriber import ACTIVE
from .rows import chunks, insert_many, now
from .schema import bodies, claims, messages, passed, subscribers, suppressions


def add_pending(
    conn: Connection, composed: Sequence[tuple[Digest, str, bytes]], run_id: int | None
) -> None:
    """Store decided digests (digest, subject, bytes), and claim the papers they carry for
    their subscribers.

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
            "sent_at": None,
            "lease_owner": None,
            "lease_until": None,
            "papers": d.keys,
        }
        for d, subject, _ in composed
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
    for chunk in chunks(sorted(known)):
        conn.execute(delete(bodies).where(bodies.c.message_id.in_(chunk)))
        conn.execute(delete(passed).where(passed.c.message_id.in_(chunk)))
    insert_many(
        conn, bodies, ("message_id", "raw"), [(d.message_id, raw) for d, _, raw in composed]
    )
    insert_many(
        conn,
        claims,
        ("paper_key", "subscriber_email"),
        sorted((key, d.subscriber.email) for d, _, _ in composed for key in d.keys),
    )
    if any(d.passed_over for d, _, _ in composed):
        conn.execute(
            insert(passed),
            [
                {
                    "message_id": d.message_id,
                    "subscriber_email": d.subscriber.email,
                    "day": d.day,
                    "papers": list(d.passed_over),
                }
                for d, _, _ in composed
                if d.passed_over
            ],
        )


def claimed(
    conn: Connection, emails: Sequence[str], keys: Collection[str], since: date
) -> dict[str, set[str]]:
    """Of the papers keyed in `keys` (a run's candidates), those each of `emails` was sent,
    is owed, or had passed over below the cut by a digest of `since` or later (the day the
    run's window starts: a paper passed over earlier can be a candidate again only if it is
    listed again). What it reads is what the run's candidates need, however long the
    service has run."""
    out: dict[str, set[str]] = {e: set() for e in emails}
    candidates = set(keys)
    wanted = sorted(candidates)
    for people in chunks(emails):
        for papers in chunks(wanted):
            stmt = select(claims.c.subscriber_email, claims.c.paper_key).where(
                claims.c.paper_key.in_(papers), claims.c.subscriber_email.in_(people)
            )
            for email, key in conn.execute(stmt):
                out[email].add(key)
        stmt = (
            select(passed.c.subscriber_email, passed.c.papers)
            .join(messages, messages.c.message_id == passed.c.message_id)
            .where(
                passed.c.subscriber_email.in_(people),
                passed.c.day >= since,
                messages.c.status.in_([PENDING, SENT]) | messages.c.sent_at.is_not(None),
            )
        )
        for email, seen in conn.execute(stmt):
            out[email].update(k for k in seen if k in candidates)
    return out


# --- claims: which worker sends what -------------------------------------------------------
#
# A pending message is sent by the worker that leased it: lease_owner names the worker, and
# lease_until says until when no other may take it. A lease is taken atomically (SKIP LOCKED
# on PostgreSQL, the write lock on SQLite), so no message is ever in two workers' hands; a
# lease whose owner is gone is void at once, one that ran out is void too.


def _takeable(at: datetime, gone: Collection[str]) -> Any:
    free = messages.c.lease_owner.is_(None) | (messages.c.lease_until < at)
    if gone:
        free = free | messages.c.lease_owner.in_(list(gone))
    return (messages.c.status == PENDING) & free


def lease_owners(conn: Connection) -> set[str]:
    """The workers holding leases on pending messages now."""
    stmt = (
        select(messages.c.lease_owner)
        .where(
            messages.c.status == PENDING,
            messages.c.lease_owner.is_not(None),
            messages.c.lease_until >= now(),
        )
        .distinct()
    )
    return set(conn.execute(stmt).scalars())


def claimable(conn: Connection, gone: Collection[str] = (), at_least: int | None = None) -> int:
    """How many pending messages a worker could lease now (counting only up to `at_least`,
    when that is all the caller wants to know)."""
    takeable = select(messages.c.message_id).where(_takeable(now(), gone)).limit(at_least)
    stmt = select(func.count()).select_from(takeable.subquery())
    return int(conn.execute(stmt).scalar_one())


def claim(
    conn: Connection, worker: str, limit: int, lease: timedelta, gone: Collection[str] = ()
) -> list[tuple[str, str]]:
    """Lease up to `limit` pending messages to `worker`, oldest first: (Message-ID,
    recipient) of each. Call it in a transaction that writes (`Database.writing`)."""
    at = now()
    pick = (
        select(messages.c.message_id, messages.c.subscriber_email)
        .where(_takeable(at, gone))
        .order_by(messages.c.created_at, messages.c.message_id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    rows = [(r.message_id, r.subscriber_email) for r in conn.execute(pick)]
    if rows:
        conn.execute(
            update(messages)
            .where(messages.c.message_id.in_([mid for mid, _ in rows]))
            .values(lease_owner=worker, lease_until=at + lease)
        )
    return rows


def renew(conn: Connection, worker: str, ids: Sequence[str], lease: timedelta) -> None:
    """Extend `worker`'s leases on these messages."""
    if ids:
        conn.execute(
            update(messages)
            .where(messages.c.message_id.in_(list(ids)), messages.c.lease_owner == worker)
            .values(lease_until=now() + lease)
        )


def unlease(conn: Connection, worker: str, ids: Sequence[str]) -> None:
    """Give back `worker`'s leases on these messages, for another worker or the next run."""
    for chunk in chunks(list(ids)):
        conn.execute(
            update(messages)
            .where(messages.c.message_id.in_(chunk), messages.c.lease_owner == worker)
            .values(lease_owner=None, lease_until=None)
        )


# Built once: constructing a statement costs more than SQLite running it, and these run for
# every message sent.
_OUTGOING = (
    select(messages, bodies.c.raw)
    .join(bodies, bodies.c.message_id == messages.c.message_id)
    .where(
        messages.c.message_id == bindparam("mid"),
        messages.c.status == PENDING,
        messages.c.lease_owner == bindparam("worker"),
    )
)
_MARK_SENT = (
    update(messages)
    .where(messages.c.message_id == bindparam("mid"), messages.c.status == PENDING)
    .values(
        status=SENT,
        sent_at=bindparam("at"),
        attempts=messages.c.attempts + 1,
        detail=None,
        lease_owner=None,
        lease_until=None,
    )
)
_FORGET = delete(suppressions).where(suppressions.c.email == bindparam("address"))


def outgoing(conn: Connection, message_id: str, worker: str) -> Outgoing | None:
    """The message, if it is still pending and leased to `worker` (a message is read just
    before it is sent, so the outbox streams and never holds a run's worth in memory)."""
    row = conn.execute(_OUTGOING, {"mid": message_id, "worker": worker}).first()
    if row is None or row.raw is None:
        return None
    return Outgoing(
        row.message_id, row.subscriber_email, row.day, row.subject, row.raw, row.attempts
    )


def mark_sent(conn: Connection, message_id: str, email: str) -> bool:
    """The relay accepted the message: pending becomes sent, and the refusals counted
    against the address are forgotten. On PostgreSQL that is one statement, one round trip,
    so the window between the relay's answer and its record is as short as it can be. False
    when it was not pending any more (cancelled while it was being sent: it stays cancelled,
    and keeps its papers, which were delivered). Its bytes are dropped later, in bulk."""
    at = now()
    if conn.dialect.name == "postgresql":
        sent = (
            update(messages)
            .where(messages.c.message_id == message_id, messages.c.status == PENDING)
            .values(
                status=SENT,
                sent_at=at,
                attempts=messages.c.attempts + 1,
                detail=None,
                lease_owner=None,
                lease_until=None,
            )
            .returning(messages.c.message_id)
            .cte("sent")
        )
        forgiven = delete(suppressions).where(suppressions.c.email == email).cte("forgiven")
        done = conn.execute(select(func.count()).select_from(sent).add_cte(forgiven)).scalar_one()
    else:
        done = conn.execute(_MARK_SENT, {"mid": message_id, "at": at}).rowcount
        conn.execute(_FORGET, {"address": email})
    if not done:
        conn.execute(
            update(messages)
            .where(messages.c.message_id == message_id, messages.c.status == CANCELLED)
            .values(sent_at=at, detail="cancelled while it was being sent; the relay took it")
        )
    return bool(done)


def forget_refusals(conn: Connection, email: str) -> None:
    """Forget the refusals counted against an address."""
    conn.execute(_FORGET, {"address": email})


def drop_sent_bytes(conn: Connection) -> None:
    """Forget the bytes of messages no longer pending: the outbox keeps only what is owed.
    It reads the bodies (the messages in flight), never the history."""
    done = (
        select(bodies.c.message_id)
        .join(messages, messages.c.message_id == bodies.c.message_id)
        .where(messages.c.status != PENDING)
    )
    conn.execute(delete(bodies).where(bodies.c.message_id.in_(done.scalar_subquery())))


def forget_passed_over(conn: Connection, before: date) -> None:
    """What digests of days before `before` passed over can no longer be in a run's window:
    it need not be kept."""
    conn.execute(delete(passed).where(passed.c.day < before))


def mark_deferred(conn: Connection, message_id: str, answer: str) -> bool:
    """A transient refusal: stays pending for the next attempt, the relay's answer kept.
    False when it was not pending any more (then its papers are freed: not delivered)."""
    done = conn.execute(
        update(messages)
        .where(messages.c.message_id == message_id, messages.c.status == PENDING)
        .values(attempts=messages.c.attempts + 1, detail=answer)
    ).rowcount
    if not done:
        free_undelivered(conn, message_id)
    return bool(done)


def _end(conn: Connection, where: Any, status: str, detail: str, **values: Any) -> list[str]:
    """End messages without delivery: their new status, and no more bytes; their ids."""
    ids = list(conn.execute(select(messages.c.message_id).where(where)).scalars())
    for chunk in chunks(ids):
        conn.execute(
            update(messages)
            .where(messages.c.message_id.in_(chunk))
            .values(status=status, detail=detail, **values)
        )
        conn.execute(delete(bodies).where(bodies.c.message_id.in_(chunk)))
    return ids


def _free(conn: Connection, ids: Sequence[str]) -> None:
    """The papers these messages carried, or passed over, are free for a later digest."""
    for chunk in chunks(list(ids)):
        conn.execute(delete(passed).where(passed.c.message_id.in_(chunk)))
        rows = conn.execute(
            select(messages.c.subscriber_email, messages.c.papers).where(
                messages.c.message_id.in_(chunk)
            )
        )
        for email, papers in rows:
            if papers:
                conn.execute(
                    delete(claims).where(
                        claims.c.subscriber_email == email, claims.c.paper_key.in_(papers)
                    )
                )


def free_undelivered(conn: Connection, message_id: str) -> None:
    """A cancelled message its worker did not deliver: its papers are free again."""
    status = conn.execute(
        select(messages.c.status).where(messages.c.message_id == message_id)
    ).scalar_one_or_none()
    if status == CANCELLED:
        _free(conn, [message_id])


def _pending_to(email: str) -> Any:
    return (messages.c.subscriber_email == email) & (messages.c.status == PENDING)


def mark_failed(conn: Connection, message_id: str, answer: str) -> None:
    """A permanent refusal of a pending message. The papers are freed (a later digest may
    carry them if the address recovers)."""
    ids = _end(
        conn,
        (messages.c.message_id == message_id) & (messages.c.status == PENDING),
        FAILED,
        answer,
        attempts=messages.c.attempts + 1,
    )
    _free(conn, ids)
    if not ids:
        free_undelivered(conn, message_id)


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


def cancel(conn: Connection, where: Any, why: str) -> None:
    """Cancel pending messages. Those no worker holds free their papers at once; one a
    worker is sending keeps them until the worker says whether the relay took it
    (`mark_sent`, or `free_undelivered`)."""
    at = now()
    idle = messages.c.lease_owner.is_(None) | (messages.c.lease_until < at)
    _free(conn, _end(conn, where & idle, CANCELLED, why))
    _end(conn, where & ~idle, CANCELLED, why)


def cancel_pending(conn: Connection, email: str, why: str) -> None:
    """Cancel what is still pending to `email` (it unsubscribed, paused or was removed)."""
    cancel(conn, _pending_to(email), why)


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
        cancel_pending(conn, email, "no longer an active subscriber")
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
