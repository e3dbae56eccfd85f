"""Papers under their canonical keys, and the days each source listed them. Which key a paper
resolves to and how two listings merge are the daily run's rules (`sources.merge`); this
module only reads and writes what it is told."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date
from typing import Any

from sqlalchemy import Connection, func, insert, select, update

from ..domain.paper import Paper, normalize_title
from .rows import chunks, now
from .schema import listings, papers


def _row(paper: Paper) -> dict[str, Any]:
    return {
        "key": paper.key,
        "source": paper.source,
        "source_id": paper.source_id,
        "arxiv_id": paper.arxiv_id,
        "title": paper.title,
        "title_norm": normalize_title(paper.title),
        "abstract": paper.abstract,
        "authors": list(paper.authors),
        "published_at": paper.published_at,
        "upvotes": paper.upvotes,
        "url": paper.url,
        "pdf_url": paper.pdf_url,
        "code_url": paper.code_url,
        "project_url": paper.project_url,
        "organization": paper.organization,
        "ai_keywords": list(paper.ai_keywords),
        "ai_summary": paper.ai_summary,
        "github_stars": paper.github_stars,
        "categories": list(paper.categories),
        "discussion_url": paper.discussion_url,
    }


def paper_from(row: Any, listed_on: date | None) -> Paper:
    """The paper a row of `papers` (or a select of all its columns) holds."""
    return Paper(
        key=row.key,
        source=row.source,
        source_id=row.source_id,
        title=row.title,
        abstract=row.abstract,
        authors=tuple(row.authors or ()),
        published_at=row.published_at,
        listed_on=listed_on,
        upvotes=row.upvotes,
        url=row.url,
        pdf_url=row.pdf_url,
        code_url=row.code_url,
        project_url=row.project_url,
        organization=row.organization,
        ai_keywords=tuple(row.ai_keywords or ()),
        ai_summary=row.ai_summary,
        github_stars=row.github_stars,
        categories=tuple(row.categories or ()),
        discussion_url=row.discussion_url,
    )


def keys_known(conn: Connection, keys: Iterable[str]) -> dict[str, str | None]:
    """Of `keys`, those stored, each with the arXiv id stored under it (or None)."""
    out: dict[str, str | None] = {}
    for chunk in chunks(sorted(set(keys))):
        stmt = select(papers.c.key, papers.c.arxiv_id).where(papers.c.key.in_(chunk))
        out.update((row.key, row.arxiv_id) for row in conn.execute(stmt))
    return out


def keys_by_title(
    conn: Connection, titles: Iterable[str]
) -> dict[str, list[tuple[str, str | None]]]:
    """For each normalized title of `titles`, the (key, arXiv id) of every paper stored
    under it."""
    out: dict[str, list[tuple[str, str | None]]] = {}
    for chunk in chunks(sorted(set(titles))):
        stmt = select(papers.c.key, papers.c.arxiv_id, papers.c.title_norm).where(
            papers.c.title_norm.in_(chunk)
        )
        for row in conn.execute(stmt):
            out.setdefault(row.title_norm, []).append((row.key, row.arxiv_id))
    return out


def stored(conn: Connection, keys: Sequence[str]) -> dict[str, Paper]:
    """The stored records of those of `keys` that are stored."""
    out: dict[str, Paper] = {}
    for chunk in chunks(list(keys)):
        for row in conn.execute(select(papers).where(papers.c.key.in_(chunk))):
            out[row.key] = paper_from(row, None)
    return out


def add(conn: Connection, new: Sequence[Paper]) -> None:
    """Store papers not stored before."""
    if new:
        stamp = now()
        conn.execute(
            insert(papers), [{**_row(p), "first_seen_at": stamp, "updated_at": stamp} for p in new]
        )


def replace(conn: Connection, old: Paper, new: Paper) -> None:
    """Write what differs between a stored record and its new version, if anything does."""
    before, after = _row(old), _row(new)
    changed = {k: v for k, v in after.items() if before[k] != v}
    if changed:
        conn.execute(
            update(papers).where(papers.c.key == old.key).values(**changed, updated_at=now())
        )


def list_on(conn: Connection, source: str, listed: Sequence[Paper]) -> None:
    """Record that `source` listed each paper on its `listed_on` day (once per day)."""
    rows = [
        {"paper_key": p.key, "source": source, "listed_on": p.listed_on}
        for p in listed
        if p.listed_on is not None
    ]
    if not rows:
        return
    known = {
        (r.paper_key, r.listed_on)
        for r in conn.execute(
            select(listings.c.paper_key, listings.c.listed_on).where(
                listings.c.source == source,
                listings.c.listed_on.in_({r["listed_on"] for r in rows}),
            )
        )
    }
    fresh = [r for r in rows if (r["paper_key"], r["listed_on"]) not in known]
    if fresh:
        conn.execute(insert(listings), fresh)


def listed(conn: Connection, days: Sequence[date]) -> list[Paper]:
    """Every stored paper listed on any of `days`, once, with its latest listing day."""
    last = (
        select(listings.c.paper_key, func.max(listings.c.listed_on).label("listed_on"))
        .where(listings.c.listed_on.in_(list(days)))
        .group_by(listings.c.paper_key)
        .subquery()
    )
    stmt = (
        select(papers, last.c.listed_on)
        .join(last, last.c.paper_key == papers.c.key)
        .order_by(last.c.listed_on, papers.c.key)
    )
    return [paper_from(row, row.listed_on) for row in conn.execute(stmt)]


def recent(conn: Connection, limit: int) -> list[Paper]:
    """The `limit` papers the store saw last, with only what ranking and the subscribe
    page's hints read (title, abstract, listing keywords)."""
    stmt = (
        select(papers.c.key, papers.c.title, papers.c.abstract, papers.c.ai_keywords)
        .order_by(papers.c.first_seen_at.desc(), papers.c.key)
        .limit(limit)
    )
    return [
        Paper(
            key=row.key,
            source="",
            source_id=row.key,
            title=row.title,
            abstract=row.abstract,
            ai_keywords=tuple(row.ai_keywords or ()),
        )
        for row in conn.execute(stmt)
    ]
