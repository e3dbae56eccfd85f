"""A reader's ratings of the papers their digests carried: the latest verdict per paper."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Connection, delete, func, select
from sqlalchemy.dialects import postgresql, sqlite

from ..domain.paper import Paper
from .papers import paper_from
from .rows import chunks
from .schema import papers, ratings


def rate(conn: Connection, email: str, key: str, verdict: str, at: datetime) -> str | None:
    """Keep `verdict` as the reader's rating of paper `key`; returns the one it replaced."""
    was = verdict_of(conn, email, key)
    add = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    stmt = add(ratings).values(subscriber_email=email, paper_key=key, verdict=verdict, rated_at=at)
    conn.execute(
        stmt.on_conflict_do_update(
            index_elements=[ratings.c.subscriber_email, ratings.c.paper_key],
            set_={"verdict": verdict, "rated_at": at},
        )
    )
    return was


def verdict_of(conn: Connection, email: str, key: str) -> str | None:
    return conn.execute(
        select(ratings.c.verdict).where(
            ratings.c.subscriber_email == email, ratings.c.paper_key == key
        )
    ).scalar()


def unrate(conn: Connection, email: str, key: str) -> bool:
    """Forget the reader's rating of `key`; False when there was none."""
    done = conn.execute(
        delete(ratings).where(ratings.c.subscriber_email == email, ratings.c.paper_key == key)
    )
    return bool(done.rowcount)


def forget(conn: Connection, email: str) -> None:
    """Every rating of a subscriber who is gone."""
    conn.execute(delete(ratings).where(ratings.c.subscriber_email == email))


def of(
    conn: Connection, emails: Sequence[str], latest: int | None = None
) -> dict[str, list[tuple[Paper, str]]]:
    """The rated papers of each of `emails` that rated any, with their verdicts, most recent
    first; at most `latest` each."""
    out: dict[str, list[tuple[Paper, str]]] = {}
    for chunk in chunks(list(emails)):
        place = (
            func.row_number()
            .over(
                partition_by=ratings.c.subscriber_email,
                order_by=(ratings.c.rated_at.desc(), ratings.c.paper_key),
            )
            .label("place")
        )
        mine = (
            select(ratings.c.subscriber_email, ratings.c.paper_key, ratings.c.verdict, place)
            .where(ratings.c.subscriber_email.in_(chunk))
            .subquery()
        )
        stmt = (
            select(papers, mine.c.subscriber_email, mine.c.verdict)
            .join(mine, mine.c.paper_key == papers.c.key)
            .order_by(mine.c.subscriber_email, mine.c.place)
        )
        if latest is not None:  # cut in the database: old ratings are never read
            stmt = stmt.where(mine.c.place <= latest)
        for row in conn.execute(stmt):
            out.setdefault(row.subscriber_email, []).append((paper_from(row, None), row.verdict))
    return out
