"""State on SQLAlchemy Core: papers under canonical keys, listings, subscribers, the outbox
(messages and the papers each one claims), suppressed addresses, runs."""

from __future__ import annotations

import dataclasses
import secrets
from collections.abc import Collection, Iterable, Iterator, Sequence
from contextlib import contextmanager
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
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    bindparam,
    create_engine,
    delete,
    event,
    func,
    insert,
    inspect,
    select,
    update,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from .config import ConfigError
from .merge import merge
from .models import Digest, Paper, normalize_title
from .sources import SourceState

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
    Column("categories", JSON),
    Column("discussion_url", Text),
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

# What each source's last runs learned of it (sources.SourceState): the validators of a
# conditional GET, the feed's build date, the newest day it listed papers. Written in the
# transaction that stores the papers, so a rolled-back run leaves the old validators.
source_states = Table(
    "sources",
    metadata,
    Column("name", String, primary_key=True),
    Column("url", Text),
    Column("etag", Text),
    Column("last_modified", Text),
    Column("built_at", DateTime),
    Column("last_listed", Date),
    Column("first_checked", Date),
    Column("checked_through", Date),
    Column("checked_at", DateTime),
    Column("last_error", Text),
    Column("failed_at", DateTime),
)

# Subscribers: the database is where they live; the subscriber file, the CLI and the web app
# are ways in (roster.py holds the rules). status: pending (asked on the web, not confirmed),
# active, unsubscribed (only the subscriber brings it back). origin: "web", "cli" or
# "file:<path>"; file_hash: the file entry as last imported, to tell an operator's edit of
# the entry from one the subscriber made since.
PENDING_CONFIRMATION, ACTIVE, UNSUBSCRIBED = "pending", "active", "unsubscribed"

subscribers = Table(
    "subscribers",
    metadata,
    Column("email", String, primary_key=True),
    Column("name", Text),
    Column("profile", JSON, nullable=False),  # the subscriber-file entry (subscribers.entry_of)
    Column("updated_at", DateTime, nullable=False),
    Column("uid", String, nullable=False, unique=True),
    Column("status", String, nullable=False, server_default=ACTIVE),
    Column("paused", Boolean, nullable=False, server_default="0"),
    Column("origin", String, nullable=False, server_default="file"),
    Column("file_hash", String),
    Column("weekly_done", Date),  # the last weekly digest day decided for them
    Column("notices", JSON),  # when confirmation or link mails went out, for rate limiting
    Column("created_at", DateTime),
    Column("confirmed_at", DateTime),
    Column("unsubscribed_at", DateTime),
)

meta = Table(
    "meta",
    metadata,
    Column("key", String, primary_key=True),
    Column("value", Text, nullable=False),
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

# The outbox. A message is decided and stored (pending) before any delivery starts, so a run
# killed at any point leaves each digest either accepted (sent) or still pending with the same
# bytes and Message-ID. failed: refused for good, relay answer kept. cancelled: the subscriber
# went away or was suppressed before it could go out.
PENDING, SENT, FAILED, CANCELLED = "pending", "sent", "failed", "cancelled"

messages = Table(
    "messages",
    metadata,
    Column("message_id", String, primary_key=True),
    Column("subscriber_email", String, nullable=False, index=True),
    Column("run_id", Integer, ForeignKey("runs.id")),
    Column("day", Date, nullable=False),
    Column("subject", Text, nullable=False),
    Column("status", String, nullable=False, index=True),
    Column("detail", Text),
    Column("created_at", DateTime, nullable=False),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("sent_at", DateTime),
    Column("raw", LargeBinary),  # the exact bytes to send; dropped once the relay accepted them
)

# The ledger: the papers each pending or sent message claims for its subscriber. A paper here is
# never decided for that subscriber again; a message that fails or is cancelled frees its rows.
deliveries = Table(
    "deliveries",
    metadata,
    Column("subscriber_email", String, primary_key=True),
    Column("paper_key", String, ForeignKey("papers.key"), primary_key=True),
    Column("message_id", String, ForeignKey("messages.message_id"), nullable=False, index=True),
    # False: the paper matched but ranked below the cut of that digest; it counts as seen, so
    # a second run of the same day does not mail the leftovers.
    Column("included", Boolean, nullable=False),
    Column("decided_at", DateTime, nullable=False),
)

# Addresses with permanent refusals since their last accepted message; suppressed once
# `failures` reaches the threshold, until an operator re-enables them.
suppressions = Table(
    "suppressions",
    metadata,
    Column("email", String, primary_key=True),
    Column("failures", Integer, nullable=False),
    Column("last_answer", Text),
    Column("first_failed_at", DateTime, nullable=False),
    Column("suppressed_at", DateTime),
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
        raise ConfigError(f"DIGEST_DATABASE_URL={safe_url(url)}: {exc}") from None

    if engine.dialect.name == "sqlite":
        # pysqlite's own transaction handling skips BEGIN for some statements; take it over
        # (SQLAlchemy's documented recipe) so rollback, and so --dry-run, undo everything.
        @event.listens_for(engine, "connect")
        def _connect(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA busy_timeout=15000")
            cur.execute("PRAGMA journal_mode=WAL")
            # WAL's NORMAL: a commit survives the process being killed (what the outbox's
            # exact record relies on) without an fsync per sent message; only a power cut
            # may lose the last commits, which resends those messages (same Message-ID).
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        @event.listens_for(engine, "begin")
        def _begin(conn: Connection) -> None:
            conn.exec_driver_sql(conn.get_execution_options().get("sqlite_begin", "BEGIN"))

    try:
        # IMMEDIATE: two processes opening a new database at once queue for the write lock
        # instead of both reading "no tables" and the second failing on its stale snapshot.
        with writing(engine) as conn:
            _upgrade(conn)
            metadata.create_all(conn)
    except SQLAlchemyError as exc:
        raise ConfigError(
            f"DIGEST_DATABASE_URL={safe_url(url)}: cannot open database: {exc.orig or exc}"
        ) from None
    return engine


@contextmanager
def writing(engine: Engine) -> Iterator[Connection]:
    """A transaction that takes the write lock at its start (BEGIN IMMEDIATE on SQLite): a
    transaction that reads first and writes later would fail at once, not wait, when another
    connection (a delivery thread marking a message sent) wrote in between."""
    with engine.connect().execution_options(sqlite_begin="BEGIN IMMEDIATE") as conn, conn.begin():
        yield conn


def safe_url(url: str) -> str:
    """The database URL as it may appear in a message: password masked."""
    try:
        return repr(make_url(url).render_as_string(hide_password=True))
    except (ValueError, SQLAlchemyError):
        return "(unparsable URL)"


def _upgrade(conn: Connection) -> None:
    """Bring a database written by an earlier version up to this schema, in place."""
    tables = set(inspect(conn).get_table_names())
    if "messages" in tables:
        have = {c["name"] for c in inspect(conn).get_columns("messages")}
        for ddl in (
            ("attempts", "INTEGER NOT NULL DEFAULT 0"),
            ("sent_at", "DATETIME"),
            ("raw", "BLOB"),
        ):
            if ddl[0] not in have:
                conn.exec_driver_sql(f"ALTER TABLE messages ADD COLUMN {ddl[0]} {ddl[1]}")
    if "subscribers" in tables:
        have = {c["name"] for c in inspect(conn).get_columns("subscribers")}
        for name, ddl in (
            ("uid", "VARCHAR"),
            ("status", "VARCHAR NOT NULL DEFAULT 'active'"),
            ("paused", "BOOLEAN NOT NULL DEFAULT 0"),
            ("origin", "VARCHAR NOT NULL DEFAULT 'file'"),
            ("file_hash", "VARCHAR"),
            ("weekly_done", "DATE"),
            ("notices", "JSON"),
            ("created_at", "DATETIME"),
            ("confirmed_at", "DATETIME"),
            ("unsubscribed_at", "DATETIME"),
        ):
            if name not in have:
                conn.exec_driver_sql(f"ALTER TABLE subscribers ADD COLUMN {name} {ddl}")
        if "uid" not in have:
            for email in list(conn.execute(select(subscribers.c.email)).scalars()):
                conn.execute(
                    update(subscribers)
                    .where(subscribers.c.email == email)
                    .values(uid=new_uid(), created_at=now())
                )
            conn.exec_driver_sql(
                "CREATE UNIQUE INDEX IF NOT EXISTS ix_subscribers_uid ON subscribers (uid)"
            )
    if "papers" in tables:
        have = {c["name"] for c in inspect(conn).get_columns("papers")}
        for name, ddl in (("categories", "JSON"), ("discussion_url", "TEXT")):
            if name not in have:
                conn.exec_driver_sql(f"ALTER TABLE papers ADD COLUMN {name} {ddl}")
    if "deliveries" in tables:
        have = {c["name"] for c in inspect(conn).get_columns("deliveries")}
        if "sent_at" in have and "decided_at" not in have:
            conn.exec_driver_sql("ALTER TABLE deliveries RENAME COLUMN sent_at TO decided_at")


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
        "categories": list(paper.categories),
        "discussion_url": paper.discussion_url,
    }


def _paper_from_row(row: Any, listed_on: date | None) -> Paper:
    published = _aware(row.published_at)
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
        categories=tuple(row.categories or ()),
        discussion_url=row.discussion_url,
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
    """Store papers and their listing days; a paper already stored is merged with the new
    listing (`merge.merge`). Returns the papers under their stored keys, and how many were new
    to the store."""
    resolved = resolve_keys(conn, fetched)
    stored: dict[str, Paper] = {}
    for chunk in _chunks([p.key for p in resolved]):
        for row in conn.execute(select(papers).where(papers.c.key.in_(chunk))):
            stored[row.key] = _paper_from_row(row, None)

    stamp = now()
    new_rows, listing_rows = [], []
    for paper in resolved:
        old = stored.get(paper.key)
        if old is not None:
            before = _paper_row(old)
            after = _paper_row(merge(old, paper))
            changed = {k: v for k, v in after.items() if before[k] != v}
            if changed:
                conn.execute(
                    update(papers)
                    .where(papers.c.key == paper.key)
                    .values(**changed, updated_at=stamp)
                )
        else:
            new_rows.append({**_paper_row(paper), "first_seen_at": stamp, "updated_at": stamp})
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


def recent_papers(conn: Connection, limit: int) -> list[Paper]:
    """The `limit` papers the store saw last, with only what ranking reads: the reference
    from which the ranker learns how common a term is."""
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


def sent_keys(conn: Connection, emails: Sequence[str]) -> dict[str, set[str]]:
    """Keys of every paper claimed for each of `emails` by a pending or sent digest (including
    those passed over below its cut): what the diff runs against."""
    out: dict[str, set[str]] = {e: set() for e in emails}
    for chunk in _chunks(emails):
        stmt = select(deliveries.c.subscriber_email, deliveries.c.paper_key).where(
            deliveries.c.subscriber_email.in_(chunk)
        )
        for email, key in conn.execute(stmt):
            out[email].add(key)
    return out


_STATE_FIELDS = tuple(f.name for f in dataclasses.fields(SourceState) if f.name != "name")


def source_state(conn: Connection, name: str) -> SourceState:
    """What earlier runs learned of the source `name` (nothing, the first time)."""
    row = conn.execute(select(source_states).where(source_states.c.name == name)).first()
    if row is None:
        return SourceState(name)
    return SourceState(name, **{f: _aware(getattr(row, f)) for f in _STATE_FIELDS})


def _aware(value: Any) -> Any:
    """A stored (naive, UTC) timestamp as an aware one; anything else as it is."""
    return value.replace(tzinfo=UTC) if isinstance(value, datetime) else value


def save_source_state(conn: Connection, state: SourceState) -> None:
    values = {
        f: _naive_utc(v) if isinstance(v, datetime) else v
        for f in _STATE_FIELDS
        for v in [getattr(state, f)]
    }
    if not conn.execute(
        update(source_states).where(source_states.c.name == state.name).values(**values)
    ).rowcount:
        conn.execute(insert(source_states).values(name=state.name, **values))


def new_uid() -> str:
    """A subscriber's id in signed links: random, so a link reveals neither the address nor
    how many subscribers there are."""
    return secrets.token_urlsafe(12)


def get_meta(conn: Connection, key: str) -> str | None:
    return conn.execute(select(meta.c.value).where(meta.c.key == key)).scalar_one_or_none()


def set_meta(conn: Connection, key: str, value: str) -> None:
    if not conn.execute(update(meta).where(meta.c.key == key).values(value=value)).rowcount:
        conn.execute(insert(meta).values(key=key, value=value))


# --- the outbox ---------------------------------------------------------------------------


def record_pending(
    conn: Connection, composed: Sequence[tuple[Digest, str, bytes]], run_id: int | None
) -> None:
    """Store decided digests (digest, subject, bytes), and claim their papers for their
    subscribers.

    The Message-ID is a hash of subscriber, day and papers, so a digest that failed for good
    and is decided again unchanged comes back under the same id: the row is reused.
    """
    if not composed:
        return
    stamp = now()
    rows = [
        {
            "message_id": d.message_id,
            "subscriber_email": d.subscriber.email,
            "run_id": run_id,
            "day": d.day,
            "subject": subject,
            "status": PENDING,
            "detail": None,
            "raw": raw,
            "sent_at": None,
        }
        for d, subject, raw in composed
    ]
    ids = [r["message_id"] for r in rows]
    known: set[str] = set()
    for chunk in _chunks(ids):
        known.update(
            conn.execute(
                select(messages.c.message_id).where(messages.c.message_id.in_(chunk))
            ).scalars()
        )
    fresh = [{**r, "created_at": stamp} for r in rows if r["message_id"] not in known]
    if fresh:
        conn.execute(insert(messages), fresh)
    for r in rows:
        if r["message_id"] in known:
            values = {k: v for k, v in r.items() if k != "message_id"}
            conn.execute(
                update(messages)
                .where(messages.c.message_id == r["message_id"], messages.c.status != SENT)
                .values(**values)
            )
    insert_many(
        conn,
        deliveries,
        ("subscriber_email", "paper_key", "message_id", "included", "decided_at"),
        [
            (d.subscriber.email, key, d.message_id, included, stamp)
            for d, _, _ in composed
            for key, included in (
                *((r.paper.key, True) for r in d.papers),
                *((k, False) for k in d.passed_over),
            )
        ],
    )


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


@dataclasses.dataclass(frozen=True, slots=True)
class Outgoing:
    """One stored message as a transport needs it."""

    message_id: str
    recipient: str
    day: date
    subject: str
    raw: bytes
    attempts: int


def pending(conn: Connection) -> list[tuple[str, str]]:
    """(message_id, recipient) of every pending message, oldest first."""
    stmt = (
        select(messages.c.message_id, messages.c.subscriber_email)
        .where(messages.c.status == PENDING)
        .order_by(messages.c.created_at, messages.c.message_id)
    )
    return [(r.message_id, r.subscriber_email) for r in conn.execute(stmt)]


# Built once: constructing a statement costs more than SQLite running it, and these two run
# for every message sent.
_OUTGOING = select(messages).where(
    messages.c.message_id == bindparam("mid"), messages.c.status == PENDING
)
_MARK_SENT = (
    update(messages)
    .where(messages.c.message_id == bindparam("mid"))
    .values(status=SENT, sent_at=bindparam("at"), attempts=messages.c.attempts + 1, detail=None)
)
_FORGIVE = delete(suppressions).where(suppressions.c.email == bindparam("address"))


def outgoing(conn: Connection, message_id: str) -> Outgoing | None:
    """The message, if it is still pending (a message is read just before it is sent, so the
    outbox streams and never holds a run's worth of messages in memory)."""
    row = conn.execute(_OUTGOING, {"mid": message_id}).first()
    if row is None or row.raw is None:
        return None
    return Outgoing(
        row.message_id, row.subscriber_email, row.day, row.subject, row.raw, row.attempts
    )


def mark_sent(conn: Connection, message_id: str, email: str) -> None:
    """The relay accepted the message. Its bytes are dropped later, in bulk (`drop_sent_bytes`):
    freeing a blob's pages in the transaction that records a delivery doubled its cost."""
    conn.execute(_MARK_SENT, {"mid": message_id, "at": now()})
    conn.execute(_FORGIVE, {"address": email})


def drop_sent_bytes(conn: Connection) -> None:
    """Forget the bytes of messages the relay accepted: the outbox keeps only what is owed."""
    conn.execute(
        update(messages)
        .where(messages.c.status == SENT, messages.c.raw.is_not(None))
        .values(raw=None)
    )


def mark_deferred(conn: Connection, message_id: str, answer: str) -> None:
    """A transient refusal: stays pending for the next attempt, the relay's answer kept."""
    conn.execute(
        update(messages)
        .where(messages.c.message_id == message_id)
        .values(attempts=messages.c.attempts + 1, detail=answer)
    )


def _release(conn: Connection, where: Any, status: str, detail: str, **values: Any) -> None:
    """End messages without delivery and free the papers they claimed."""
    ids = list(conn.execute(select(messages.c.message_id).where(where)).scalars())
    for chunk in _chunks(ids):
        conn.execute(
            update(messages)
            .where(messages.c.message_id.in_(chunk))
            .values(status=status, detail=detail, raw=None, **values)
        )
        conn.execute(delete(deliveries).where(deliveries.c.message_id.in_(chunk)))


def _pending_to(email: str) -> Any:
    return (messages.c.subscriber_email == email) & (messages.c.status == PENDING)


def mark_failed(
    conn: Connection, message_id: str, email: str, answer: str, suppress_after: int | None
) -> bool:
    """A permanent refusal. The papers are freed (a later digest may carry them if the address
    recovers). A refusal that blames the address (`suppress_after` given) counts towards
    suppressing it; returns True when this one does."""
    _release(
        conn,
        messages.c.message_id == message_id,
        FAILED,
        answer,
        attempts=messages.c.attempts + 1,
    )
    if suppress_after is None:
        return False
    row = conn.execute(select(suppressions).where(suppressions.c.email == email)).first()
    stamp = now()
    failures = (row.failures if row else 0) + 1
    suppress = failures >= suppress_after and (row is None or row.suppressed_at is None)
    values = {
        "failures": failures,
        "last_answer": answer,
        **({"suppressed_at": stamp} if suppress else {}),
    }
    if row is None:
        conn.execute(insert(suppressions).values(email=email, first_failed_at=stamp, **values))
    else:
        conn.execute(update(suppressions).where(suppressions.c.email == email).values(**values))
    if suppress:
        _release(conn, _pending_to(email), CANCELLED, "address suppressed")
    return suppress


def cancel_pending(conn: Connection, email: str, why: str) -> None:
    """Cancel what is still pending to `email` (it unsubscribed, paused or was removed)."""
    _release(conn, _pending_to(email), CANCELLED, why)


def cancel_pending_to_absent(conn: Connection, suppressed: Collection[str]) -> int:
    """Cancel pending messages to addresses that no longer receive digests: gone, not
    active, paused, or suppressed. Returns how many addresses."""
    receiving = select(subscribers.c.email).where(
        subscribers.c.status == ACTIVE, subscribers.c.paused.is_(False)
    )
    owed = select(messages.c.subscriber_email).where(messages.c.status == PENDING).distinct()
    stale = set(conn.execute(owed.where(messages.c.subscriber_email.not_in(receiving))).scalars())
    stale |= set(conn.execute(owed).scalars()) & set(suppressed)
    for email in stale:
        _release(conn, _pending_to(email), CANCELLED, "no longer an active subscriber")
    return len(stale)


def suppressed(conn: Connection) -> set[str]:
    stmt = select(suppressions.c.email).where(suppressions.c.suppressed_at.is_not(None))
    return set(conn.execute(stmt).scalars())


def unsuppress(conn: Connection, email: str) -> bool:
    """Re-enable an address: forget its failures. False if it was not suppressed."""
    return bool(conn.execute(delete(suppressions).where(suppressions.c.email == email)).rowcount)


# --- runs and status ----------------------------------------------------------------------


def start_run(conn: Connection, days: Sequence[date]) -> int:
    """Record a run; call it holding the run lock, so any run still 'running' has died."""
    conn.execute(
        update(runs)
        .where(runs.c.status == "running")
        .values(status="interrupted", detail="the process ended before the run finished")
    )
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


def recent_runs(conn: Connection, limit: int = 10) -> list[Any]:
    return list(conn.execute(select(runs).order_by(runs.c.id.desc()).limit(limit)))


def count_messages(conn: Connection, status: str) -> int:
    stmt = select(func.count()).select_from(messages).where(messages.c.status == status)
    return int(conn.execute(stmt).scalar_one())


def messages_in(conn: Connection, status: str, limit: int = 20) -> tuple[int, list[Any]]:
    """How many messages have `status`, and the most recent of them."""
    total = count_messages(conn, status)
    rows = conn.execute(
        select(
            messages.c.message_id,
            messages.c.subscriber_email,
            messages.c.day,
            messages.c.attempts,
            messages.c.detail,
            messages.c.created_at,
        )
        .where(messages.c.status == status)
        .order_by(messages.c.created_at.desc())
        .limit(limit)
    )
    return total, list(rows)


def suppression_rows(conn: Connection) -> list[Any]:
    return list(
        conn.execute(
            select(suppressions)
            .where(suppressions.c.suppressed_at.is_not(None))
            .order_by(suppressions.c.suppressed_at)
        )
    )
