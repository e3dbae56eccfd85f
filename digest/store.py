"""State on SQLAlchemy Core: papers under canonical keys, listings, subscribers, ledger, runs."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Connection,
    Date,
    DateTime,
    Engine,
    Float,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    event,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from .config import ConfigError
from .models import Digest, Paper, Subscriber, normalize_title

metadata = MetaData()

papers = Table(
    "papers",
    metadata,
    Column("key", String, primary_key=True),
    Column("source", String, nullable=False),
    Column("source_id", String, nullable=False),
    Column("arxiv_id", String, index=True),
    Column("title", Text, nullable=False),
    Column("title_norm", Text, nullable=False, index=True),
    Column("abstract", Text, nullable=False),
    Column("authors", JSON, nullable=False),
    Column("published_at", DateTime),
    Column("upvotes", Integer),
    Column("url", Text),
    Column("pdf_url", Text),
    Column("code_url", Text),
    Column("project_url", Text),
    Column("organization", Text),
    Column("ai_keywords", JSON, nullable=False),
    Column("ai_summary", Text),
    Column("github_stars", Integer),
    Column("first_seen_at", DateTime, nullable=False),
    Column("updated_at", DateTime, nullable=False),
)

listings = Table(
    "listings",
    metadata,
    Column("paper_key", String, ForeignKey("papers.key"), primary_key=True),
    Column("source", String, primary_key=True),
    Column("listed_on", Date, primary_key=True, index=True),
)

subscribers = Table(
    "subscribers",
    metadata,
    Column("email", String, primary_key=True),
    Column("name", Text),
    Column("profile", JSON, nullable=False),
    Column("updated_at", DateTime, nullable=False),
)

runs = Table(
    "runs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("started_at", DateTime, nullable=False),
    Column("finished_at", DateTime),
    Column("status", String, nullable=False),
    Column("window_start", Date, nullable=False),
    Column("window_end", Date, nullable=False),
    Column("fetched", Integer),
    Column("new", Integer),
    Column("mailed", Integer),
    Column("sent", Integer),
    Column("failed", Integer),
    Column("seconds", Float),
    Column("detail", Text),
)

messages = Table(
    "messages",
    metadata,
    Column("message_id", String, primary_key=True),
    Column("subscriber_email", String, nullable=False, index=True),
    Column("run_id", Integer, ForeignKey("runs.id")),
    Column("day", Date, nullable=False),
    Column("subject", Text, nullable=False),
    Column("status", String, nullable=False),
    Column("detail", Text),
    Column("created_at", DateTime, nullable=False),
)

deliveries = Table(
    "deliveries",
    metadata,
    Column("subscriber_email", String, primary_key=True),
    Column("paper_key", String, ForeignKey("papers.key"), primary_key=True),
    Column("message_id", String, ForeignKey("messages.message_id"), nullable=False),
    # False: the paper matched but ranked below the cut of that digest; it counts as seen, so
    # a second run of the same day does not mail the leftovers.
    Column("included", Boolean, nullable=False),
    Column("sent_at", DateTime, nullable=False),
)


def now() -> datetime:
    """UTC wall time, naive: SQLite keeps no zone, so everything stored is UTC by convention."""
    return datetime.now(UTC).replace(tzinfo=None)


def _naive_utc(when: datetime | None) -> datetime | None:
    if when is None or when.tzinfo is None:
        return when
    return when.astimezone(UTC).replace(tzinfo=None)


def open_engine(url: str) -> Engine:
    """An engine whose transactions really are transactions, schema created if missing."""
    try:
        parsed = make_url(url)
        if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url)
    except (SQLAlchemyError, ValueError, ImportError, OSError) as exc:
        raise ConfigError(f"DIGEST_DATABASE_URL={url!r}: {exc}") from None

    if engine.dialect.name == "sqlite":
        # pysqlite's own transaction handling skips BEGIN for some statements; take it over
        # (SQLAlchemy's documented recipe) so rollback, and so --dry-run, undo everything.
        @event.listens_for(engine, "connect")
        def _connect(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA busy_timeout=15000")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        @event.listens_for(engine, "begin")
        def _begin(conn: Connection) -> None:
            conn.exec_driver_sql("BEGIN")

    try:
        with engine.begin() as conn:
            metadata.create_all(conn)
    except SQLAlchemyError as exc:
        raise ConfigError(
            f"DIGEST_DATABASE_URL={url!r}: cannot open database: {exc.orig or exc}"
        ) from None
    return engine


def _paper_row(paper: Paper) -> dict[str, Any]:
    return {
        "key": paper.key,
        "source": paper.source,
        "source_id": paper.source_id,
        "arxiv_id": paper.arxiv_id,
        "title": paper.title,
        "title_norm": normalize_title(paper.title),
        "abstract": paper.abstract,
        "authors": list(paper.authors),
        "published_at": _naive_utc(paper.published_at),
        "upvotes": paper.upvotes,
        "url": paper.url,
        "pdf_url": paper.pdf_url,
        "code_url": paper.code_url,
        "project_url": paper.project_url,
        "organization": paper.organization,
        "ai_keywords": list(paper.ai_keywords),
        "ai_summary": paper.ai_summary,
        "github_stars": paper.github_stars,
    }


def _paper_from_row(row: Any, listed_on: date | None) -> Paper:
    published = row.published_at.replace(tzinfo=UTC) if row.published_at else None
    return Paper(
        key=row.key,
        source=row.source,
        source_id=row.source_id,
        title=row.title,
        abstract=row.abstract,
        authors=tuple(row.authors or ()),
        published_at=published,
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
    )


def resolve_keys(conn: Connection, fetched: Sequence[Paper]) -> list[Paper]:
    """Map each paper onto the key it is already stored under, if any.

    A paper known by title (no arXiv id) and later seen with an id, or the reverse, is one
    paper: the first key it was stored under stays its key, so the ledger keeps holding.
    Two different arXiv ids never merge, even with equal titles.
    """
    norms = {normalize_title(p.title) for p in fetched}
    keys = {p.key for p in fetched}
    by_key: dict[str, str | None] = {}
    by_title: dict[str, list[tuple[str, str | None]]] = {}
    for chunk in _chunks(sorted(keys)):
        for row in conn.execute(
            select(papers.c.key, papers.c.arxiv_id).where(papers.c.key.in_(chunk))
        ):
            by_key[row.key] = row.arxiv_id
    for chunk in _chunks(sorted(norms)):
        stmt = select(papers.c.key, papers.c.arxiv_id, papers.c.title_norm).where(
            papers.c.title_norm.in_(chunk)
        )
        for row in conn.execute(stmt):
            by_title.setdefault(row.title_norm, []).append((row.key, row.arxiv_id))

    resolved: list[Paper] = []
    seen: dict[str, Paper] = {}
    for paper in fetched:
        key = paper.key
        if key not in by_key:
            for other_key, other_aid in by_title.get(normalize_title(paper.title), []):
                if other_aid is None or paper.arxiv_id is None or other_aid == paper.arxiv_id:
                    key = other_key
                    break
        if key != paper.key:
            paper = dataclasses.replace(paper, key=key)
        if key not in seen:
            seen[key] = paper
            resolved.append(paper)
    return resolved


def _chunks(items: Sequence[str], size: int = 500) -> Iterable[Sequence[str]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def upsert_papers(
    conn: Connection, fetched: Sequence[Paper], source: str
) -> tuple[list[Paper], int]:
    """Store papers and their listing days; returns them under their stored keys, and how many
    were new to the store."""
    resolved = resolve_keys(conn, fetched)
    existing: set[str] = set()
    for chunk in _chunks([p.key for p in resolved]):
        existing.update(conn.execute(select(papers.c.key).where(papers.c.key.in_(chunk))).scalars())

    stamp = now()
    new_rows, listing_rows = [], []
    for paper in resolved:
        row = _paper_row(paper)
        if paper.key in existing:
            fresh = {k: v for k, v in row.items() if k in _REFRESHED and v not in (None, [], "")}
            conn.execute(
                update(papers).where(papers.c.key == paper.key).values(**fresh, updated_at=stamp)
            )
        else:
            new_rows.append({**row, "first_seen_at": stamp, "updated_at": stamp})
        if paper.listed_on is not None:
            listing_rows.append(
                {"paper_key": paper.key, "source": source, "listed_on": paper.listed_on}
            )
    if new_rows:
        conn.execute(insert(papers), new_rows)
    if listing_rows:
        known = {
            (r.paper_key, r.listed_on)
            for r in conn.execute(
                select(listings.c.paper_key, listings.c.listed_on).where(
                    listings.c.source == source,
                    listings.c.listed_on.in_({r["listed_on"] for r in listing_rows}),
                )
            )
        }
        fresh_listings = [r for r in listing_rows if (r["paper_key"], r["listed_on"]) not in known]
        if fresh_listings:
            conn.execute(insert(listings), fresh_listings)
    return resolved, len(new_rows)


# Fields a later listing may improve (votes grow, code appears); identity fields never change.
_REFRESHED = {
    "abstract",
    "authors",
    "upvotes",
    "code_url",
    "project_url",
    "pdf_url",
    "organization",
    "ai_keywords",
    "ai_summary",
    "github_stars",
    "arxiv_id",
}


def papers_listed(conn: Connection, days: Sequence[date]) -> list[Paper]:
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
    return [_paper_from_row(row, row.listed_on) for row in conn.execute(stmt)]


def sent_keys(conn: Connection, email: str) -> set[str]:
    """Keys of every paper already delivered to (or passed over for) `email`: what the diff
    runs against."""
    stmt = select(deliveries.c.paper_key).where(deliveries.c.subscriber_email == email)
    return set(conn.execute(stmt).scalars())


def sync_subscribers(conn: Connection, subs: Sequence[Subscriber]) -> None:
    stamp = now()
    known = set(conn.execute(select(subscribers.c.email)).scalars())
    for sub in subs:
        profile = dataclasses.asdict(sub)
        values = {"name": sub.name, "profile": profile, "updated_at": stamp}
        if sub.email in known:
            conn.execute(
                update(subscribers).where(subscribers.c.email == sub.email).values(**values)
            )
        else:
            conn.execute(insert(subscribers).values(email=sub.email, **values))


def record_sent(conn: Connection, digest: Digest, subject: str, run_id: int | None) -> None:
    """The ledger entry for a message the transport accepted; call inside its own transaction."""
    stamp = now()
    _put_message(conn, digest, subject, run_id, status="sent", detail=None)
    conn.execute(
        insert(deliveries),
        [
            {
                "subscriber_email": digest.subscriber.email,
                "paper_key": key,
                "message_id": digest.message_id,
                "included": included,
                "sent_at": stamp,
            }
            for key, included in [
                *((r.paper.key, True) for r in digest.papers),
                *((k, False) for k in digest.passed_over),
            ]
        ],
    )


def record_failed(
    conn: Connection, digest: Digest, subject: str, run_id: int | None, detail: str
) -> None:
    """A permanent refusal: kept for the operator, and nothing enters the delivery ledger."""
    _put_message(conn, digest, subject, run_id, status="failed", detail=detail)


def _put_message(
    conn: Connection,
    digest: Digest,
    subject: str,
    run_id: int | None,
    *,
    status: str,
    detail: str | None,
) -> None:
    """Insert or update the message row; a digest refused once may be accepted on a retry."""
    values = {"status": status, "detail": detail, "run_id": run_id}
    found = conn.execute(
        update(messages).where(messages.c.message_id == digest.message_id).values(**values)
    ).rowcount
    if not found:
        conn.execute(
            insert(messages).values(
                message_id=digest.message_id,
                subscriber_email=digest.subscriber.email,
                day=digest.day,
                subject=subject,
                created_at=now(),
                **values,
            )
        )


def start_run(conn: Connection, days: Sequence[date]) -> int:
    result = conn.execute(
        insert(runs).values(
            started_at=now(), status="running", window_start=min(days), window_end=max(days)
        )
    )
    return int(result.inserted_primary_key[0])


def finish_run(conn: Connection, run_id: int, status: str, **counts: Any) -> None:
    conn.execute(
        update(runs).where(runs.c.id == run_id).values(finished_at=now(), status=status, **counts)
    )
