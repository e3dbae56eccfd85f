"""Which worker sends what. A pending message is sent by the worker that leased it:
lease_owner names the worker, and lease_until says until when no other may take it. A lease is
taken atomically (SKIP LOCKED on PostgreSQL, the write lock on SQLite), so no message is ever
in two workers' hands; a lease whose owner is gone is void at once, one that ran out is void
too."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import timedelta

from sqlalchemy import Connection, bindparam, func, select, update

from ..domain.digest import CANCELLED, PENDING
from .rows import chunks, clock
from .schema import messages


def lease_owners(conn: Connection, cancelled: bool = False) -> set[str]:
    """The workers holding leases on pending messages now (and, with `cancelled`, on messages
    cancelled while they held them)."""
    statuses = [PENDING, CANCELLED] if cancelled else [PENDING]
    stmt = (
        select(messages.c.lease_owner)
        .where(
            messages.c.status.in_(statuses),
            messages.c.lease_owner.is_not(None),
            messages.c.lease_until >= clock(conn),
        )
        .distinct()
    )
    return set(conn.execute(stmt).scalars())


# Built once (they run for every few messages sent); `gone` may be empty.
_TAKEABLE = (messages.c.status == PENDING) & (
    messages.c.lease_owner.is_(None)
    | (messages.c.lease_until < bindparam("at"))
    | messages.c.lease_owner.in_(bindparam("gone", expanding=True))
)
_PICK = (
    select(messages.c.message_id, messages.c.subscriber_email)
    .where(_TAKEABLE)
    .order_by(messages.c.created_at, messages.c.message_id)
    .limit(bindparam("limit"))
    .with_for_update(skip_locked=True)
)
_ANY = select(func.count()).select_from(
    select(messages.c.message_id).where(_TAKEABLE).limit(bindparam("limit")).subquery()
)
_LEASE = (
    update(messages)
    .where(messages.c.message_id.in_(bindparam("ids", expanding=True)))
    .values(lease_owner=bindparam("worker"), lease_until=bindparam("until"))
)


def claimable(conn: Connection, gone: Collection[str] = (), at_least: int = 1) -> int:
    """How many pending messages a worker could lease now, counted only up to `at_least`
    (all a caller wants to know is whether there are that many)."""
    params = {"at": clock(conn), "gone": sorted(gone), "limit": at_least}
    return int(conn.execute(_ANY, params).scalar_one())


def claim(
    conn: Connection, worker: str, limit: int, lease: timedelta, gone: Collection[str] = ()
) -> list[tuple[str, str]]:
    """Lease up to `limit` pending messages to `worker`, oldest first: (Message-ID,
    recipient) of each. Call it in a transaction that writes (`Database.writing`)."""
    at = clock(conn)
    picked = conn.execute(_PICK, {"at": at, "gone": sorted(gone), "limit": limit})
    rows = [(r.message_id, r.subscriber_email) for r in picked]
    if rows:
        ids = [mid for mid, _ in rows]
        conn.execute(_LEASE, {"ids": ids, "worker": worker, "until": at + lease})
    return rows


def renew(conn: Connection, worker: str, ids: Sequence[str], lease: timedelta) -> None:
    """Extend `worker`'s leases on these messages."""
    until = clock(conn) + lease
    for chunk in chunks(list(ids)):
        conn.execute(
            update(messages)
            .where(messages.c.message_id.in_(chunk), messages.c.lease_owner == worker)
            .values(lease_until=until)
        )


def unlease(conn: Connection, worker: str, ids: Sequence[str]) -> None:
    """Give back `worker`'s leases on these messages, for another worker or the next run."""
    for chunk in chunks(list(ids)):
        conn.execute(
            update(messages)
            .where(messages.c.message_id.in_(chunk), messages.c.lease_owner == worker)
            .values(lease_owner=None, lease_until=None)
        )
