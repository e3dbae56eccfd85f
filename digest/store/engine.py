"""The database: one engine whose transactions really are transactions, the schema created
or brought up to date on opening, and the helpers the table modules share."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from ..errors import ConfigError
from .migrations import upgrade
from .schema import metadata

# A connection inside a transaction, as the jobs hand it to the table modules' functions.
Tx = Connection


class Database:
    """The configured database. `reading()` for reads, `begin()` for a write, `writing()`
    for a write that reads first, `transaction(keep=False)` for work to look at and undo."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def reading(self) -> AbstractContextManager[Tx]:
        return self.engine.connect()

    def begin(self) -> AbstractContextManager[Tx]:
        return self.engine.begin()

    @contextmanager
    def writing(self) -> Iterator[Tx]:
        """A transaction that takes the write lock at its start (BEGIN IMMEDIATE on SQLite):
        one that reads first and writes later would fail at once, not wait, when another
        connection (a delivery thread marking a message sent) wrote in between."""
        with (
            self.engine.connect().execution_options(sqlite_begin="BEGIN IMMEDIATE") as conn,
            conn.begin(),
        ):
            yield conn

    @contextmanager
    def transaction(self, *, keep: bool) -> Iterator[Tx]:
        """A transaction committed at the end of the block when `keep`, else rolled back (a
        dry run, a preview); rolled back whenever the block raises."""
        with self.engine.connect() as conn:
            tx = conn.begin()
            try:
                yield conn
            except BaseException:
                tx.rollback()
                raise
            if keep:
                tx.commit()
            else:
                tx.rollback()

    def dispose(self) -> None:
        self.engine.dispose()


def open_database(url: str) -> Database:
    """The database at `url`, its schema created or upgraded; ConfigError when it cannot be
    opened (the URL's password never appears in the message)."""
    try:
        parsed = make_url(url)
        if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url)
    except (SQLAlchemyError, ValueError, ImportError, OSError) as exc:
        raise ConfigError(f"DIGEST_DATABASE_URL={safe_url(url)}: {exc}") from None
    if engine.dialect.name == "sqlite":
        _sqlite(engine)
    db = Database(engine)
    try:
        # IMMEDIATE: two processes opening a new database at once queue for the write lock
        # instead of both reading "no tables" and the second failing on its stale snapshot.
        with db.writing() as conn:
            upgrade(conn)
            metadata.create_all(conn)
    except SQLAlchemyError as exc:
        raise ConfigError(
            f"DIGEST_DATABASE_URL={safe_url(url)}: cannot open database: {exc.orig or exc}"
        ) from None
    return db


def _sqlite(engine: Engine) -> None:
    """pysqlite's own transaction handling skips BEGIN for some statements; take it over
    (SQLAlchemy's documented recipe) so rollback, and so --dry-run, undo everything."""

    @event.listens_for(engine, "connect")
    def _connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA busy_timeout=15000")
        cur.execute("PRAGMA journal_mode=WAL")
        # WAL's NORMAL: a commit survives the process being killed (what the outbox's exact
        # record relies on) without an fsync per sent message; only a power cut may lose the
        # last commits, which resends those messages (same Message-ID).
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        conn.exec_driver_sql(conn.get_execution_options().get("sqlite_begin", "BEGIN"))


def safe_url(url: str) -> str:
    """The database URL as it may appear in a message: password masked."""
    try:
        return repr(make_url(url).render_as_string(hide_password=True))
    except (ValueError, SQLAlchemyError):
        return "(unparsable URL)"
