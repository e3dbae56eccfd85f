"""Subscribers and where their subscription stands. The rules between the ways in (the file,
the operator, the web pages) are `subscriptions.rules`, applied by the jobs; this module
reads and writes what it is told."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Connection, delete, func, insert, select, update

from ..domain.subscriber import (
    ACTIVE,
    ENTRY_KEYS,
    PENDING_CONFIRMATION,
    UNSUBSCRIBED,
    Subscriber,
    Subscription,
    entry_of,
    parse_entry,
)
from .rows import chunks, new_uid, now
from .schema import subscribers


def _subscription(row: Any) -> Subscription:
    entry = {k: v for k, v in (row.profile or {}).items() if k in ENTRY_KEYS and v is not None}
    entry["email"] = row.email
    return Subscription(
        subscriber=replace(parse_entry(entry, stored=True), uid=row.uid),
        status=row.status,
        paused=bool(row.paused),
        origin=row.origin,
        created_at=row.created_at,
        confirmed_at=row.confirmed_at,
        unsubscribed_at=row.unsubscribed_at,
        weekly_done=row.weekly_done,
        file_hash=row.file_hash,
        notices=tuple(_utc(datetime.fromisoformat(t)) for t in row.notices or ()),
    )


def _utc(when: datetime) -> datetime:
    """A time written before times were stored with their zone was UTC."""
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def get(conn: Connection, email: str) -> Subscription | None:
    row = conn.execute(select(subscribers).where(subscribers.c.email == email)).first()
    return _subscription(row) if row else None


def by_uid(conn: Connection, uid: str) -> Subscription | None:
    row = conn.execute(select(subscribers).where(subscribers.c.uid == uid)).first()
    return _subscription(row) if row else None


def page(
    conn: Connection,
    *,
    weekly: bool = False,
    after: str | None = None,
    limit: int | None = None,
    until: str | None = None,
) -> list[Subscription]:
    """Everyone, or (`weekly`) only those who asked for a weekly digest; by address, from
    the one `after` on (up to `until`, included), at most `limit` (a long list is read a
    page at a time)."""
    stmt = select(subscribers).order_by(subscribers.c.email).limit(limit)
    if weekly:
        stmt = stmt.where(subscribers.c.frequency == "weekly")
    if after is not None:
        stmt = stmt.where(subscribers.c.email > after)
    if until is not None:
        stmt = stmt.where(subscribers.c.email <= until)
    return [_subscription(r) for r in conn.execute(stmt)]


def boundaries(conn: Connection, parts: int) -> list[str]:
    """The addresses that cut the list, by address, into `parts` runs of about equal length
    (fewer when the list is shorter than that)."""
    total = int(conn.execute(select(func.count()).select_from(subscribers)).scalar_one())
    cuts = []
    for k in range(1, parts):
        offset = k * total // parts - 1
        if offset < 0:
            continue
        stmt = select(subscribers.c.email).order_by(subscribers.c.email).offset(offset).limit(1)
        email = conn.execute(stmt).scalar_one_or_none()
        if email is not None and email not in cuts:
            cuts.append(email)
    return cuts


def receiving_counts(conn: Connection) -> tuple[int, int]:
    """How many active, unpaused subscribers get daily digests, and how many weekly ones."""
    stmt = (
        select(subscribers.c.frequency, func.count())
        .where(subscribers.c.status == ACTIVE, subscribers.c.paused.is_(False))
        .group_by(subscribers.c.frequency)
    )
    counts: dict[str, int] = {frequency: n for frequency, n in conn.execute(stmt)}
    weekly = counts.pop("weekly", 0)
    return sum(counts.values()), weekly


def keeping_to_categories(conn: Connection) -> list[str]:
    """The receiving subscribers whose profile keeps to arXiv categories."""
    stmt = (
        select(subscribers.c.email, subscribers.c.profile)
        .where(subscribers.c.status == ACTIVE, subscribers.c.paused.is_(False))
        .order_by(subscribers.c.email)
    )
    return [email for email, profile in conn.execute(stmt) if (profile or {}).get("categories")]


def receiving_among(conn: Connection, emails: Sequence[str]) -> set[str]:
    """Of `emails`, those active and not paused now. Their rows stay locked against change
    until the transaction ends (FOR SHARE on PostgreSQL; SQLite's write lock is already
    held), so one who leaves meanwhile either is left out here, or leaves after this
    transaction and cancels what it stored."""
    out: set[str] = set()
    for chunk in chunks(list(emails)):
        stmt = (
            select(subscribers.c.email)
            .where(
                subscribers.c.email.in_(chunk),
                subscribers.c.status == ACTIVE,
                subscribers.c.paused.is_(False),
            )
            .with_for_update(read=True)
        )
        out.update(conn.execute(stmt).scalars())
    return out


def from_origin(conn: Connection, origin: str) -> list[str]:
    """The addresses that came from `origin` (a subscriber file) and did not unsubscribe."""
    stmt = select(subscribers.c.email).where(
        subscribers.c.origin == origin, subscribers.c.status != UNSUBSCRIBED
    )
    return list(conn.execute(stmt).scalars())


def add(conn: Connection, sub: Subscriber, status: str, origin: str, **values: Any) -> None:
    """A new subscriber, with a fresh random id; `status` ACTIVE counts as confirmed now."""
    stamp = now()
    conn.execute(
        insert(subscribers).values(
            email=sub.email,
            name=sub.name,
            profile=entry_of(sub),
            frequency=sub.frequency,
            uid=new_uid(),
            status=status,
            paused=False,
            origin=origin,
            created_at=stamp,
            updated_at=stamp,
            confirmed_at=stamp if status == ACTIVE else None,
            **values,
        )
    )


def change(conn: Connection, email: str, **values: Any) -> None:
    """Set columns of one subscriber (status, paused, confirmed_at, ...)."""
    conn.execute(
        update(subscribers).where(subscribers.c.email == email).values(updated_at=now(), **values)
    )


def set_profile(conn: Connection, sub: Subscriber, **values: Any) -> None:
    """Replace a subscriber's profile (and set any other columns given)."""
    change(conn, sub.email, name=sub.name, profile=entry_of(sub), frequency=sub.frequency, **values)


def set_notices(conn: Connection, email: str, times: Sequence[datetime]) -> None:
    change(conn, email, notices=[t.isoformat() for t in times])


def remove(conn: Connection, email: str) -> bool:
    return bool(conn.execute(delete(subscribers).where(subscribers.c.email == email)).rowcount)


def purge_unconfirmed(conn: Connection, created_before: datetime) -> None:
    """Forget addresses asked for on the web before `created_before` and never confirmed."""
    conn.execute(
        delete(subscribers).where(
            subscribers.c.status == PENDING_CONFIRMATION,
            subscribers.c.confirmed_at.is_(None),
            subscribers.c.created_at < created_before,
        )
    )


def mark_weekly(conn: Connection, emails: Sequence[str], day: date) -> None:
    """Their weekly digest for the week up to `day` is decided."""
    for email in emails:
        conn.execute(
            update(subscribers).where(subscribers.c.email == email).values(weekly_done=day)
        )
