"""What the table modules share: the clock as stored and as leases read it, IN lists in
slices, fast bulk inserts, and new random ids."""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Table, bindparam, func, insert, select


def now() -> datetime:
    """The time as the store keeps it: aware, in UTC (`types.UTCDateTime`)."""
    return datetime.now(UTC)


def clock(conn: Connection) -> datetime:
    """The time by which leases are taken and judged. On a server database, the server's:
    workers on several hosts then agree on when a lease runs out, whatever their own clocks
    say. A SQLite file has one host."""
    if conn.dialect.name == "postgresql":
        at: datetime = conn.execute(select(func.now())).scalar_one()
        return at.astimezone(UTC)
    return now()


def chunks(items: Sequence[str], size: int = 500) -> Iterable[Sequence[str]]:
    """`items` in slices small enough for an IN (...) list."""
    for i in range(0, len(items), size):
        yield items[i : i + size]


def insert_many(
    conn: Connection, table: Table, columns: Sequence[str], rows: Sequence[tuple[Any, ...]]
) -> None:
    """Rows inserted through the driver's executemany, each value converted by its column
    type's own bind processor. SQLAlchemy's per-row parameter handling otherwise costs more
    than SQLite's insert itself, and a digest claims some seventy ledger rows."""
    if not rows:
        return
    compiled = (
        insert(table).values({c: bindparam(c) for c in columns}).compile(dialect=conn.dialect)
    )
    converters = [table.c[c].type.bind_processor(conn.dialect) for c in columns]
    converted = [
        tuple(v if f is None else f(v) for f, v in zip(converters, row, strict=True))
        for row in rows
    ]
    if compiled.positional:
        at = [columns.index(name) for name in compiled.positiontup or ()]
        params: list[Any] = [tuple(row[i] for i in at) for row in converted]
    else:
        params = [dict(zip(columns, row, strict=True)) for row in converted]
    conn.exec_driver_sql(str(compiled), params)


def new_uid() -> str:
    """A subscriber's id in signed links: random, so a link reveals neither the address nor
    how many subscribers there are."""
    return secrets.token_urlsafe(12)
