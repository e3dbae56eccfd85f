"""What a subscriber was sent, as their own pages read it: one digest (for "view in
browser"), the latest ones (their archive and feed), and the papers a digest passed over
while they are kept. Reads only, each bounded: the cost of a page does not grow with the
age of the subscription."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import Connection, select

from ..domain.digest import SENT
from .schema import messages, passed


@dataclass(frozen=True)
class Sent:
    """One digest as it went out: its day, subject, papers (keys, in the order it showed
    them) and when the relay took it."""

    message_id: str
    day: date
    subject: str
    papers: tuple[str, ...]
    sent_at: datetime | None
    trending: int = 0  # how many of `papers` (the last ones) were its trending section

    @property
    def picks(self) -> tuple[str, ...]:
        return self.papers[: len(self.papers) - self.trending]

    @property
    def hot(self) -> tuple[str, ...]:
        return self.papers[len(self.papers) - self.trending :]


def _sent(row: object) -> Sent:
    return Sent(
        row.message_id,  # type: ignore[attr-defined]
        row.day,  # type: ignore[attr-defined]
        row.subject,  # type: ignore[attr-defined]
        tuple(row.papers or ()),  # type: ignore[attr-defined]
        row.sent_at,  # type: ignore[attr-defined]
        row.trending or 0,  # type: ignore[attr-defined]
    )


_COLUMNS = (
    messages.c.message_id,
    messages.c.day,
    messages.c.subject,
    messages.c.papers,
    messages.c.sent_at,
    messages.c.trending,
)


def one(conn: Connection, email: str, message_id: str) -> Sent | None:
    """The digest `message_id`, if it was sent to `email` (another's is never shown)."""
    row = conn.execute(
        select(*_COLUMNS).where(
            messages.c.message_id == message_id,
            messages.c.subscriber_email == email,
            messages.c.status == SENT,
        )
    ).first()
    return _sent(row) if row is not None else None


def latest(conn: Connection, email: str, limit: int) -> list[Sent]:
    """The `limit` digests sent to `email` last, newest first."""
    rows = conn.execute(
        select(*_COLUMNS)
        .where(messages.c.subscriber_email == email, messages.c.status == SENT)
        .order_by(messages.c.day.desc(), messages.c.sent_at.desc())
        .limit(limit)
    )
    return [_sent(r) for r in rows]


def passed_over(conn: Connection, message_id: str) -> tuple[str, ...]:
    """The papers that digest matched but did not carry, while they are kept (the lookback
    window); () after."""
    keys = conn.execute(select(passed.c.papers).where(passed.c.message_id == message_id)).scalar()
    return tuple(keys or ())
