"""The outbox (every decided message and its status; its bytes until the relay accepts them),
the ledger (the papers each pending or sent message carries to its subscriber) and what each
digest passed over. Who sends which message is in `leases`; refused addresses in
`suppressions`."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import replace
from datetime import date
from typing import Any

from sqlalchemy import Connection, bindparam, delete, func, insert, select, update

from ..domain.digest import CANCELLED, FAILED, PENDING, SENT, Digest, Outgoing
from ..domain.records import MessageRecord
from ..domain.subscriber import ACTIVE
from .rows import chunks, clock, insert_many, now
from .schema import bodies, claims, messages, passed, subscribers, suppressions

_RELEASED = {"lease_owner": None, "lease_until": None}


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
    digests = [d for d, _, _ in composed]
    _upsert_messages(conn, [_message_row(d, subject, run_id) for d, subject, _ in composed])
    insert_many(
        conn, bodies, ("message_id", "raw"), [(d.message_id, raw) for d, _, raw in composed]
    )
    insert_many(
        conn,
        claims,
        ("paper_key", "subscriber_email"),
        sorted((key, d.subscriber.email) for d in digests for key in d.keys),
    )
    over = [
        {
            "message_id": d.message_id,
            "subscriber_email": d.subscriber.email,
            "day": d.day,
            "papers": list(d.passed_over),
        }
        for d in digests
        if d.passed_over
    ]
    if over:
        conn.execute(insert(passed), over)


def _message_row(d: Digest, subject: str, run_id: int | None) -> dict[str, Any]:
    return {
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
        "trending": len(d.trending) or None,
    }


def _upsert_messages(conn: Connection, rows: list[dict[str, Any]]) -> None:
    """Insert new messages; one already known (failed before, decided again unchanged) is
    reset to pending unless it was sent, its old bytes and passed-over papers dropped."""
    known: set[str] = set()
    for chunk in chunks([r["message_id"] for r in rows]):
        known.update(
            conn.execute(
                select(messages.c.message_id).where(messages.c.message_id.in_(chunk))
            ).scalars()
        )
    stamp = now()
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


# Built once: constructing a statement costs more than SQLite running it, and these run for
# every few messages sent.
_IDS = bindparam("ids", expanding=True)
_READY = select(
    messages.c.message_id,
    messages.c.subscriber_email,
    messages.c.day,
    messages.c.subject,
    messages.c.attempts,
).where(
    messages.c.message_id.in_(_IDS),
    messages.c.status == PENDING,
    messages.c.lease_owner == bindparam("worker"),
)
_BYTES = select(bodies.c.message_id, bodies.c.raw).where(bodies.c.message_id.in_(_IDS))
_MARK_SENT = (
    update(messages)
    .where(messages.c.message_id.in_(_IDS), messages.c.status == PENDING)
    .values(status=SENT, sent_at=bindparam("at"), attempts=messages.c.attempts + 1, detail=None)
    .values(**_RELEASED)
    .returning(messages.c.message_id)
)
_FORGIVE = delete(suppressions).where(suppressions.c.email.in_(bindparam("emails", expanding=True)))
_SENT_LATE = (
    update(messages)
    .where(messages.c.message_id.in_(_IDS), messages.c.status == CANCELLED)
    .values(
        sent_at=bindparam("at"),
        detail="cancelled while it was being sent; the relay took it",
        **_RELEASED,
    )
)


def ready(
    conn: Connection, ids: Sequence[str], worker: str, known: Collection[str] = ()
) -> dict[str, Outgoing]:
    """Of these messages, those still pending and leased to `worker`, read in one go; the
    bytes of those in `known` (the caller holds them already) are not read again, and come
    back empty."""
    out: dict[str, Outgoing] = {}
    for chunk in chunks(list(ids)):
        for r in conn.execute(_READY, {"ids": chunk, "worker": worker}):
            out[r.message_id] = Outgoing(
                r.message_id, r.subscriber_email, r.day, r.subject, b"", r.attempts
            )
    for chunk in chunks([mid for mid in out if mid not in known]):
        for mid, raw in conn.execute(_BYTES, {"ids": chunk}):
            out[mid] = replace(out[mid], raw=raw)
    return {mid: o for mid, o in out.items() if o.raw or mid in known}


def mark_sent(conn: Connection, sent: Sequence[tuple[str, str]]) -> None:
    """The relay accepted these messages (Message-ID, recipient): pending becomes sent, and
    the refusals counted against their addresses are forgotten. One statement each for all
    of them, so the marks of several connections can share a commit. A message not pending
    any more (cancelled while it was being sent) stays cancelled and keeps its papers, which
    were delivered. Their bytes are dropped later, in bulk."""
    at = now()
    ids = [mid for mid, _ in sent]
    done: set[str] = set()
    for chunk in chunks(ids):
        done.update(conn.execute(_MARK_SENT, {"ids": chunk, "at": at}).scalars())
    addresses = sorted({email for _, email in sent})
    for chunk in chunks(addresses):
        conn.execute(_FORGIVE, {"emails": chunk})
    late = [mid for mid in ids if mid not in done]
    for chunk in chunks(late):
        conn.execute(_SENT_LATE, {"ids": chunk, "at": at})


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


def mark_deferred(conn: Connection, message_id: str, answer: str, worker: str) -> bool:
    """A transient refusal: stays pending for the next attempt, the relay's answer kept.
    False when it was not pending any more (then its papers are freed: not delivered)."""
    done = conn.execute(
        update(messages)
        .where(messages.c.message_id == message_id, messages.c.status == PENDING)
        .values(attempts=messages.c.attempts + 1, detail=answer)
    ).rowcount
    if not done:
        free_undelivered(conn, [message_id], worker)
    return bool(done)


def _end(conn: Connection, where: Any, status: str, detail: str, **values: Any) -> list[str]:
    """End the pending messages `where` selects without delivery: their new status, and no
    more bytes; their ids. One statement, so a message another worker marks sent meanwhile
    stays sent."""
    ended = (
        update(messages)
        .where(where & (messages.c.status == PENDING))
        .values(status=status, detail=detail, **values)
        .returning(messages.c.message_id)
    )
    ids = list(conn.execute(ended).scalars())
    for chunk in chunks(ids):
        conn.execute(delete(bodies).where(bodies.c.message_id.in_(chunk)))
    return ids


def _free(conn: Connection, ids: Sequence[str]) -> None:
    """The papers these messages carried, or passed over, are free for a later digest. Only
    ever once per message (a later digest may have claimed them again since)."""
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


def _held(where: Any) -> Any:
    """Cancelled messages a worker held and did not deliver, among those `where` selects."""
    return (
        (messages.c.status == CANCELLED)
        & messages.c.lease_owner.is_not(None)
        & messages.c.sent_at.is_(None)
        & where
    )


def _free_held(conn: Connection, where: Any) -> int:
    """Free the papers of the held cancelled messages `where` selects, and let go of their
    leases, so they are never freed twice."""
    stmt = update(messages).where(_held(where)).values(**_RELEASED)
    ids = list(conn.execute(stmt.returning(messages.c.message_id)).scalars())
    _free(conn, ids)
    return len(ids)


def free_undelivered(conn: Connection, ids: Sequence[str], worker: str) -> None:
    """Of these messages `worker` held, those cancelled and not delivered: their papers are
    free again."""
    for chunk in chunks(list(ids)):
        _free_held(conn, messages.c.message_id.in_(chunk) & (messages.c.lease_owner == worker))


def _lapsed(conn: Connection, gone: Collection[str]) -> Any:
    lapsed = messages.c.lease_until < clock(conn)
    return lapsed | messages.c.lease_owner.in_(list(gone)) if gone else lapsed


def abandoned(conn: Connection, gone: Collection[str]) -> bool:
    """Whether messages were cancelled while a worker now gone (or whose lease ran out) held
    them, before it said whether the relay took them."""
    stmt = select(messages.c.message_id).where(_held(_lapsed(conn, gone))).limit(1)
    return conn.execute(stmt).first() is not None


def free_abandoned(conn: Connection, gone: Collection[str]) -> int:
    """The papers of those `abandoned` messages are free again. How many messages."""
    return _free_held(conn, _lapsed(conn, gone))


def _pending_to(email: str) -> Any:
    return (messages.c.subscriber_email == email) & (messages.c.status == PENDING)


def mark_failed(conn: Connection, message_id: str, answer: str, worker: str) -> None:
    """A permanent refusal of a pending message. The papers are freed (a later digest may
    carry them if the address recovers)."""
    ids = _end(
        conn,
        messages.c.message_id == message_id,
        FAILED,
        answer,
        attempts=messages.c.attempts + 1,
        **_RELEASED,
    )
    _free(conn, ids)
    if not ids:
        free_undelivered(conn, [message_id], worker)


def cancel(conn: Connection, where: Any, why: str) -> None:
    """Cancel pending messages. Those no worker holds free their papers at once; one a
    worker is sending keeps them until the worker says whether the relay took it
    (`mark_sent`, or `free_undelivered`; `free_abandoned` if the worker is gone)."""
    idle = messages.c.lease_owner.is_(None) | (messages.c.lease_until < clock(conn))
    _free(conn, _end(conn, where & idle, CANCELLED, why, **_RELEASED))
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
