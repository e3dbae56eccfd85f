"""The relay's connections as numbered slots in the database: a worker opens one connection
per slot it holds, so the processes of every run and every host together never hold more
than SMTP_MAX_CONNECTIONS. A slot is free when nobody holds it, or its holder is gone."""

from __future__ import annotations

from collections.abc import Callable, Collection

from sqlalchemy import Connection, select, update
from sqlalchemy.dialects import postgresql, sqlite

from .schema import relay_slots


def take(
    conn: Connection,
    worker: str,
    want: int,
    total: int,
    gone: Callable[[Collection[str]], Collection[str]],
) -> list[int]:
    """Hold up to `want` of the `total` slots for `worker` (those it holds already count),
    lowest numbers first, and say which it holds. Call it in a transaction that writes
    (`Database.writing`); `gone` tells which of the holders it is given are no longer
    present."""
    if total <= 0:
        return []
    add = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    conn.execute(  # the slots a larger SMTP_MAX_CONNECTIONS adds; two workers may race here
        add(relay_slots).on_conflict_do_nothing(index_elements=[relay_slots.c.slot]),
        [{"slot": n, "holder": None} for n in range(total)],
    )
    have = {r.slot: r.holder for r in conn.execute(select(relay_slots).with_for_update())}
    mine = [n for n, h in have.items() if h == worker and n < total]
    others = {h for n, h in have.items() if h is not None and h != worker and n < total}
    away = set(gone(others)) if others else set()
    free = sorted(n for n, h in have.items() if n < total and (h is None or h in away))
    taken = free[: max(0, want - len(mine))]
    if taken:
        conn.execute(update(relay_slots).where(relay_slots.c.slot.in_(taken)).values(holder=worker))
    return sorted(mine + taken)


def give_back(conn: Connection, worker: str) -> None:
    """Free every slot `worker` holds."""
    conn.execute(update(relay_slots).where(relay_slots.c.holder == worker).values(holder=None))


def holders(conn: Connection) -> dict[int, str]:
    """The slots held now, by whom (gone holders included)."""
    rows = conn.execute(select(relay_slots).where(relay_slots.c.holder.is_not(None)))
    return {r.slot: r.holder for r in rows}
