"""Addresses the relay refused: refusals counted against each, and those suppressed. When an
address counts as suppressed, and when it is forgiven, is the caller's rule."""

from __future__ import annotations

from sqlalchemy import Connection, delete, select, update
from sqlalchemy.dialects import postgresql, sqlite

from ..domain.records import Suppression
from .rows import now
from .schema import suppressions


def count_refusal(conn: Connection, email: str, answer: str) -> Suppression:
    """One more refusal that blames the address: its record after counting it. One statement,
    so two workers refused for one address at once both count."""
    upsert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    stmt = (
        upsert(suppressions)
        .values(email=email, failures=1, last_answer=answer, first_failed_at=now())
        .on_conflict_do_update(
            index_elements=[suppressions.c.email],
            set_={"failures": suppressions.c.failures + 1, "last_answer": answer},
        )
        .returning(*suppressions.c)
    )
    return Suppression(*conn.execute(stmt).one())


def suppress(conn: Connection, email: str) -> None:
    """Mark the address suppressed (its refusals counted by `count_refusal`)."""
    conn.execute(
        update(suppressions).where(suppressions.c.email == email).values(suppressed_at=now())
    )


def suppressed(conn: Connection) -> set[str]:
    stmt = select(suppressions.c.email).where(suppressions.c.suppressed_at.is_not(None))
    return set(conn.execute(stmt).scalars())


def unsuppress(conn: Connection, email: str) -> bool:
    """Forget an address's refusals; False if none were counted."""
    return bool(conn.execute(delete(suppressions).where(suppressions.c.email == email)).rowcount)


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
