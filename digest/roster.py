"""Who is subscribed. Subscribers live in the database; the subscriber file, the operator's
CLI and the subscribers' own web pages are ways in, and this module holds the rules between
them (README, "Subscribers"):

- the file is imported when it changed since the last import; a new address is added, an
  entry the operator edited since the last import overwrites what the subscriber set, an
  entry left as it was leaves the subscriber's own changes standing, and an address gone
  from the file is removed if it came from that file;
- an unsubscribe is never undone by an import or by `digest subscribers add`: only the
  subscriber, through a fresh confirmation, or the undo on the page that unsubscribed them.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections import Counter
from collections.abc import Collection
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, delete, func, insert, select, update

from . import store
from .config import ConfigError
from .models import Subscriber
from .store import ACTIVE, PENDING_CONFIRMATION, UNSUBSCRIBED, now, subscribers
from .subscribers import ENTRY_KEYS, entry_of, parse_entry, read_subscribers

# Mail to an address that did not ask for digests (confirmation, "here is your link"): at most
# one per NOTICE_GAP and NOTICE_DAILY a day, however often the form is sent.
NOTICE_GAP = timedelta(minutes=10)
NOTICE_DAILY = 3
UNCONFIRMED_KEPT = timedelta(days=7)


@dataclass(frozen=True, slots=True)
class Member:
    subscriber: Subscriber
    status: str
    paused: bool
    origin: str
    created_at: datetime | None = None
    confirmed_at: datetime | None = None
    unsubscribed_at: datetime | None = None
    weekly_done: date | None = None

    @property
    def email(self) -> str:
        return self.subscriber.email

    @property
    def uid(self) -> str:
        return self.subscriber.uid

    @property
    def receiving(self) -> bool:
        return self.status == ACTIVE and not self.paused

    @property
    def state(self) -> str:
        """What an operator reads: active, paused, pending or unsubscribed."""
        return "paused" if self.status == ACTIVE and self.paused else self.status


class NotAllowed(Exception):
    """The operator asked for something the rules forbid (re-adding an unsubscribed address)."""


def _profile(row: Any) -> Subscriber:
    entry = {k: v for k, v in (row.profile or {}).items() if k in ENTRY_KEYS and v is not None}
    entry["email"] = row.email
    return replace(parse_entry(entry), uid=row.uid)


def _member(row: Any) -> Member:
    return Member(
        subscriber=_profile(row),
        status=row.status,
        paused=bool(row.paused),
        origin=row.origin,
        created_at=row.created_at,
        confirmed_at=row.confirmed_at,
        unsubscribed_at=row.unsubscribed_at,
        weekly_done=row.weekly_done,
    )


def get(conn: Connection, email: str) -> Member | None:
    row = conn.execute(select(subscribers).where(subscribers.c.email == email)).first()
    return _member(row) if row else None


def by_uid(conn: Connection, uid: str) -> Member | None:
    row = conn.execute(select(subscribers).where(subscribers.c.uid == uid)).first()
    return _member(row) if row else None


def members(
    conn: Connection, *, weekly: bool = False, after: str | None = None, limit: int | None = None
) -> list[Member]:
    """Everyone, or (`weekly`) only those who asked for a weekly digest; by address, from
    the one `after` on, at most `limit` (a long list is read a page at a time)."""
    stmt = select(subscribers).order_by(subscribers.c.email).limit(limit)
    if weekly:
        stmt = stmt.where(_frequency() == "weekly")
    if after is not None:
        stmt = stmt.where(subscribers.c.email > after)
    return [_member(r) for r in conn.execute(stmt)]


def _frequency() -> Any:
    return func.coalesce(subscribers.c.profile["frequency"].as_string(), "daily")


def receiving(conn: Connection, *, exclude: Collection[str]) -> tuple[int, int, int]:
    """How many subscribers receive digests (active, not paused), leaving out the addresses
    in `exclude`: (daily, weekly, how many were left out)."""
    stmt = (
        select(_frequency() == "weekly", func.count())
        .where(subscribers.c.status == ACTIVE, subscribers.c.paused.is_(False))
        .group_by(_frequency() == "weekly")
    )
    counts = {bool(weekly): n for weekly, n in conn.execute(stmt)}
    left = [0, 0]
    for email in exclude:
        m = get(conn, email)
        if m is not None and m.receiving:
            left[m.subscriber.frequency == "weekly"] += 1
    return counts.get(False, 0) - left[0], counts.get(True, 0) - left[1], sum(left)


def entry_hash(sub: Subscriber) -> str:
    return hashlib.sha256(json.dumps(entry_of(sub), sort_keys=True).encode()).hexdigest()


def _insert(conn: Connection, sub: Subscriber, status: str, origin: str, **values: Any) -> None:
    stamp = now()
    conn.execute(
        insert(subscribers).values(
            email=sub.email,
            name=sub.name,
            profile=entry_of(sub),
            uid=store.new_uid(),
            status=status,
            paused=False,
            origin=origin,
            created_at=stamp,
            updated_at=stamp,
            confirmed_at=stamp if status == ACTIVE else None,
            **values,
        )
    )


def _set(conn: Connection, email: str, **values: Any) -> None:
    conn.execute(
        update(subscribers).where(subscribers.c.email == email).values(updated_at=now(), **values)
    )


def _set_profile(conn: Connection, sub: Subscriber, **values: Any) -> None:
    _set(conn, sub.email, name=sub.name, profile=entry_of(sub), **values)


# --- the subscriber file -------------------------------------------------------------------


@dataclass
class Imported:
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    unsubscribed: list[str] = field(default_factory=list)  # in the file, but they left
    removed: list[str] = field(default_factory=list)  # gone from the file they came from

    def summary(self) -> str:
        parts = [
            f"{len(self.added)} added",
            f"{len(self.updated)} updated",
            f"{len(self.unchanged)} unchanged",
            f"{len(self.removed)} removed",
        ]
        if self.unsubscribed:
            parts.append(
                f"{len(self.unsubscribed)} skipped because they unsubscribed "
                f"({', '.join(self.unsubscribed)})"
            )
        return ", ".join(parts)


def origin_of(path: Path) -> str:
    return f"file:{path.resolve()}"


def import_file(
    conn: Connection, path: Path, subs: list[Subscriber], *, prune: bool = True
) -> Imported:
    """Apply the file's entries under the rules above. With `prune`, subscribers that came
    from this file and are no longer in it are removed."""
    origin = origin_of(path)
    result = Imported()
    for sub in subs:
        digest = entry_hash(sub)
        row = conn.execute(select(subscribers).where(subscribers.c.email == sub.email)).first()
        if row is None:
            _insert(conn, sub, ACTIVE, origin, file_hash=digest)
            result.added.append(sub.email)
        elif row.status == UNSUBSCRIBED:
            result.unsubscribed.append(sub.email)
        elif row.file_hash == digest and row.status == ACTIVE:
            result.unchanged.append(sub.email)
        else:
            _set_profile(
                conn,
                sub,
                origin=origin,
                file_hash=digest,
                status=ACTIVE,
                confirmed_at=row.confirmed_at or now(),
            )
            result.updated.append(sub.email)
    if prune:
        listed = {s.email for s in subs}
        gone = conn.execute(
            select(subscribers.c.email).where(
                subscribers.c.origin == origin, subscribers.c.status != UNSUBSCRIBED
            )
        ).scalars()
        for email in sorted(set(gone) - listed):
            remove(conn, email)
            result.removed.append(email)
    return result


def _fingerprint_key(path: Path) -> str:
    return f"subscribers_file:{path.resolve()}"


def sync_file(conn: Connection, path: Path, required: bool) -> Imported | None:
    """Import the subscriber file if it changed since its last import; None if it did not
    (or is absent and not `required`). A broken file raises ConfigError, importing nothing."""
    if not path.exists() and not required:
        return None
    key = _fingerprint_key(path)
    with contextlib.suppress(OSError):  # read_subscribers says what is wrong with the file
        if store.get_meta(conn, key) == hashlib.sha256(path.read_bytes()).hexdigest():
            return None  # unchanged: not parsed again (a long list takes seconds to parse)
    fingerprint, subs = read_subscribers(path)
    result = import_file(conn, path, subs)
    store.set_meta(conn, key, fingerprint)
    return result


def read_file(path: Path, required: bool) -> None:
    """Check the subscriber file before a run does anything (ConfigError if it is broken)."""
    if path.exists() or required:
        read_subscribers(path)


# --- the operator ---------------------------------------------------------------------------


def add(conn: Connection, sub: Subscriber) -> str:
    """Add or update a subscriber as the operator: active at once (the operator vouches).
    Returns "added" or "updated"."""
    row = conn.execute(select(subscribers).where(subscribers.c.email == sub.email)).first()
    if row is None:
        _insert(conn, sub, ACTIVE, "cli")
        return "added"
    if row.status == UNSUBSCRIBED:
        raise NotAllowed(
            f"{sub.email} unsubscribed on {row.unsubscribed_at:%Y-%m-%d}; only they can "
            "subscribe again (the subscribe page of `digest serve`)"
        )
    _set_profile(conn, sub, status=ACTIVE, confirmed_at=row.confirmed_at or now())
    return "updated"


def remove(conn: Connection, email: str) -> bool:
    """Delete a subscriber and cancel their pending mail. What they were sent stays in the
    ledger, so if the address comes back it is not sent those papers again."""
    store.cancel_pending(conn, email, "subscriber removed")
    return bool(conn.execute(delete(subscribers).where(subscribers.c.email == email)).rowcount)


# --- the subscriber, on the web -------------------------------------------------------------


def _recent(notices: list[str] | None, when: datetime) -> list[datetime]:
    times = [datetime.fromisoformat(t) for t in notices or []]
    return [t for t in times if when - t < timedelta(days=1)]


def request(conn: Connection, sub: Subscriber) -> tuple[str, Member] | None:
    """Someone asked, on the subscribe page, for digests to `sub.email`. Returns what to mail
    them: ("confirm", member) for an address that has not confirmed (new, pending, or one that
    unsubscribed), ("manage", member) for an active subscriber (their preferences link: the
    form never changes an active subscription). None when that address was mailed too
    recently. Nothing is ever activated here."""
    purge_unconfirmed(conn)
    stamp = now()
    row = conn.execute(select(subscribers).where(subscribers.c.email == sub.email)).first()
    if row is None:
        _insert(conn, sub, PENDING_CONFIRMATION, "web")
        row = conn.execute(select(subscribers).where(subscribers.c.email == sub.email)).one()
        kind = "confirm"
    elif row.status == ACTIVE:
        kind = "manage"
    else:
        kind = "confirm"
    recent = _recent(row.notices, stamp)
    if recent and (stamp - max(recent) < NOTICE_GAP or len(recent) >= NOTICE_DAILY):
        return None
    if kind == "confirm":
        # Only the request's profile is kept; the status stays until the link is followed.
        _set_profile(conn, replace(sub, uid=row.uid))
    _set(conn, sub.email, notices=[t.isoformat() for t in [*recent, stamp]])
    member = get(conn, sub.email)
    assert member is not None
    return kind, member


def forget_notice(conn: Connection, email: str) -> None:
    """The mail could not be sent: do not count it against the address."""
    row = conn.execute(select(subscribers.c.notices).where(subscribers.c.email == email)).first()
    if row is not None and row.notices:
        _set(conn, email, notices=row.notices[:-1])


def purge_unconfirmed(conn: Connection) -> None:
    """Forget addresses that never confirmed: nobody is kept on file for asking once."""
    conn.execute(
        delete(subscribers).where(
            subscribers.c.status == PENDING_CONFIRMATION,
            subscribers.c.confirmed_at.is_(None),
            subscribers.c.created_at < now() - UNCONFIRMED_KEPT,
        )
    )


def confirm(conn: Connection, member: Member, issued: datetime) -> bool:
    """Activate a subscription from a confirmation link issued at `issued`. A link older than
    the member's last unsubscribe does not count (it was for the earlier subscription)."""
    if member.status == ACTIVE:
        return False
    if member.unsubscribed_at is not None and issued < member.unsubscribed_at:
        return False
    _set(conn, member.email, status=ACTIVE, paused=False, confirmed_at=now())
    return True


def unsubscribe(conn: Connection, member: Member) -> datetime:
    """Stop all mail at once, pending messages included. Returns the time it took effect
    (what an undo must name)."""
    stamp = now()
    if member.status == UNSUBSCRIBED and member.unsubscribed_at is not None:
        return member.unsubscribed_at
    _set(conn, member.email, status=UNSUBSCRIBED, unsubscribed_at=stamp)
    store.cancel_pending(conn, member.email, "unsubscribed")
    return stamp


def undo_unsubscribe(conn: Connection, member: Member, unsubscribed_at: datetime) -> bool:
    """Undo exactly the unsubscribe that happened at `unsubscribed_at`, nothing older."""
    if member.status != UNSUBSCRIBED or member.unsubscribed_at != unsubscribed_at:
        return False
    _set(conn, member.email, status=ACTIVE, unsubscribed_at=None)
    return True


def save(conn: Connection, member: Member, sub: Subscriber, paused: bool) -> None:
    """The subscriber's own preferences. The file entry's hash is left alone, so the next
    import keeps these unless the operator edits that entry."""
    extra: dict[str, Any] = {}
    if sub.frequency == "weekly" and member.subscriber.frequency != "weekly":
        # Weekly from now on: the first weekly digest comes on the next weekly day, not on
        # the next run (which would send two in a few days).
        extra["weekly_done"] = now().date()
    _set_profile(conn, replace(sub, email=member.email), paused=paused, **extra)
    if paused:
        store.cancel_pending(conn, member.email, "paused")


# --- weekly digests -------------------------------------------------------------------------


def last_weekly_day(today: date, weekday: int) -> date:
    """The most recent `weekday` (0 = Monday) on or before `today`."""
    return today - timedelta(days=(today.weekday() - weekday) % 7)


def weekly_due(member: Member, today: date, weekday: int) -> bool:
    """A weekly subscriber's digest is due once per week, on the weekly day or, if no run
    happened that day, on the next run after it; not for a week they joined after its day."""
    due_on = last_weekly_day(today, weekday)
    # A run for a past --date treats a later subscriber as if they had joined that day.
    joined = min((member.confirmed_at or member.created_at or datetime.min).date(), today)
    done = member.weekly_done
    return joined <= due_on and (done is None or done < due_on)


def due_weekly(members: list[Member], today: date, weekday: int) -> list[Member]:
    """The receiving weekly subscribers whose digest is due on `today`."""
    return [
        m
        for m in members
        if m.receiving and m.subscriber.frequency == "weekly" and weekly_due(m, today, weekday)
    ]


def mark_weekly(conn: Connection, emails: list[str], today: date) -> None:
    for email in emails:
        conn.execute(
            update(subscribers).where(subscribers.c.email == email).values(weekly_done=today)
        )


def popular_keywords(conn: Connection, limit: int = 12) -> list[str]:
    """The listing keywords most used by the papers the store saw last: hints for the form."""
    counts: Counter[str] = Counter()
    for paper in store.recent_papers(conn, 500):
        counts.update({k.strip().lower() for k in paper.ai_keywords if 3 <= len(k.strip()) <= 40})
    return [k for k, n in counts.most_common(limit) if n > 1]


def require(member: Member | None, email: str) -> Member:
    if member is None:
        raise ConfigError(f"no subscriber {email!r} (`digest subscribers list` shows them)")
    return member
