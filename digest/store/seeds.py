"""The papers readers name by arXiv id: to look up, found (stored as papers), or missing."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime

from sqlalchemy import Connection, select, update
from sqlalchemy.dialects import postgresql, sqlite

from ..domain.paper import Paper
from .papers import paper_from
from .rows import chunks, now
from .schema import papers, seeds

WANTED, FOUND, MISSING = "wanted", "found", "missing"


def by_arxiv_id(conn: Connection, ids: Collection[str]) -> dict[str, Paper]:
    """The stored papers of those arXiv ids the store holds."""
    out: dict[str, Paper] = {}
    for chunk in chunks(list(ids)):
        for row in conn.execute(select(papers).where(papers.c.arxiv_id.in_(chunk))):
            out[row.arxiv_id] = paper_from(row, None)
    return out


def want(conn: Connection, ids: Collection[str]) -> list[str]:
    """Note the ids not noted already: found when the store holds the paper, else to be
    looked up; returns those to look up."""
    if not ids:
        return []
    noted: set[str] = set()
    for chunk in chunks(list(ids)):
        noted.update(
            conn.execute(select(seeds.c.arxiv_id).where(seeds.c.arxiv_id.in_(chunk))).scalars()
        )
    new = [i for i in dict.fromkeys(ids) if i not in noted]
    held = by_arxiv_id(conn, new)
    if new:
        stamp = now()
        rows = [
            {"arxiv_id": i, "state": FOUND if i in held else WANTED, "checked_at": stamp}
            for i in new
        ]
        add = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
        conn.execute(add(seeds).on_conflict_do_nothing(), rows)  # a web save may race a run
    return [i for i in new if i not in held]


def wanted(conn: Connection, limit: int) -> list[str]:
    """Ids still to look up, at most `limit`."""
    stmt = select(seeds.c.arxiv_id).where(seeds.c.state == WANTED).order_by(seeds.c.arxiv_id)
    return list(conn.execute(stmt.limit(limit)).scalars())


def missing(conn: Connection, ids: Collection[str] | None = None) -> list[str]:
    """Of `ids` (of all, when None), those arXiv was asked for and has not."""
    stmt = select(seeds.c.arxiv_id).where(seeds.c.state == MISSING).order_by(seeds.c.arxiv_id)
    if ids is None:
        return list(conn.execute(stmt).scalars())
    out: list[str] = []
    for chunk in chunks(list(ids)):
        out += conn.execute(stmt.where(seeds.c.arxiv_id.in_(chunk))).scalars()
    return out


def settle(conn: Connection, found: Sequence[str], lacking: Sequence[str], at: datetime) -> None:
    """The ids looked up: those `found` (now stored as papers), and those arXiv lacks."""
    for state, ids in ((FOUND, found), (MISSING, lacking)):
        for chunk in chunks(list(ids)):
            conn.execute(
                update(seeds).where(seeds.c.arxiv_id.in_(chunk)).values(state=state, checked_at=at)
            )
