"""The database: one engine whose transactions really are transactions, the schema created
or brought up to date on opening, and the helpers the table modules share."""

from __future__ import annotations

import os
import random
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, OperationalError, SQLAlchemyError

from ..errors import ConfigError, Unavailable
from . import migrations

# A connection inside a transaction, as the jobs hand it to the table modules' functions.
Tx = Connection
T = TypeVar("T")


class Database:
    """The configured database. `reading()` for reads, `begin()` for a write, `writing()`
    for a write that reads first (`retried` runs one again when the database was busy),
    `transaction(keep=False)` for work to look at and undo."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.upgraded: str | None = None  # what opening it did to its schema, if it upgraded it
        # SQLite has one writer at a time. This process's threads take turns on a mutex, which
        # hands over in microseconds, rather than on SQLite's busy handler, which sleeps in
        # steps of milliseconds; other processes still wait on SQLite's lock.
        self._writer = threading.RLock() if engine.dialect.name == "sqlite" else None

    def reading(self) -> AbstractContextManager[Tx]:
        return self.engine.connect()

    @contextmanager
    def _turn(self) -> Iterator[None]:
        if self._writer is None:
            yield
            return
        with self._writer:
            yield

    @contextmanager
    def begin(self) -> Iterator[Tx]:
        with self._turn(), self.engine.begin() as conn:
            yield conn

    @contextmanager
    def writing(self) -> Iterator[Tx]:
        """A transaction that takes the write lock at its start (BEGIN IMMEDIATE on SQLite):
        one that reads first and writes later would fail at once, not wait, when another
        connection (a delivery thread marking a message sent) wrote in between."""
        with (
            self._turn(),
            self.engine.connect().execution_options(sqlite_begin="BEGIN IMMEDIATE") as conn,
            conn.begin(),
        ):
            yield conn

    def retried(self, work: Callable[[Tx], T], attempts: int = 6) -> T:
        """`work` in a `writing()` transaction, run again from the start when the database
        answered that it was busy or that the transaction lost a race (SQLite locked past
        its busy timeout; PostgreSQL's deadlock or serialization failure)."""
        for attempt in range(attempts):
            try:
                with self.writing() as conn:
                    return work(conn)
            except DBAPIError as exc:
                if attempt == attempts - 1 or not _lost_a_race(exc):
                    raise
                time.sleep(min(0.05 * 2**attempt, 1.0) * (0.5 + random.random()))
        raise AssertionError("unreachable")

    @contextmanager
    def committing(self) -> Iterator[Tx]:
        """For work that is one statement on PostgreSQL: each statement commits itself, and
        nothing waits for a separate COMMIT. On SQLite, a `writing()` transaction."""
        if self._writer is not None:
            with self.writing() as conn:
                yield conn
            return
        with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            yield conn

    @contextmanager
    def transaction(self, *, keep: bool) -> Iterator[Tx]:
        """A transaction that writes, committed at the end of the block when `keep`, else
        rolled back (a dry run, a preview); rolled back whenever the block raises."""
        with (
            self._turn(),
            self.engine.connect().execution_options(sqlite_begin="BEGIN IMMEDIATE") as conn,
        ):
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

    def warm(self, connections: int) -> None:
        """Open `connections` connections now and keep them in the pool, so the threads that
        will use them do not pay for connecting at the moment it matters (between the relay
        accepting a message and its being recorded as sent)."""
        held = [self.engine.connect() for _ in range(connections)]
        for conn in held:
            conn.exec_driver_sql("SELECT 1")
        for conn in held:
            conn.close()

    def vacuum(self, *tables: str) -> None:
        """Let PostgreSQL reuse the space of the rows these tables no longer hold (deleted
        bodies, old row versions) now, rather than when autovacuum comes round. SQLite reuses
        freed pages by itself."""
        if self.engine.dialect.name != "postgresql":
            return
        with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM " + ", ".join(tables))

    def dispose(self) -> None:
        self.engine.dispose()


def open_database(url: str, *, migrate: bool = False, connections: int = 5) -> Database:
    """The database at `url`, its schema created if it is empty and, with `migrate`, upgraded
    if an older version wrote it; `connections` kept open for the threads that use it at
    once. ConfigError when it cannot be opened, or its schema is not this code's (the URL's
    password never appears in the message)."""
    db = Database(_engine(url, connections))
    before = _checked(db, url, migrate)
    if migrate and not (before.up_to_date or before.empty):
        db.upgraded = before.upgraded()
    return db


def upgrade_database(url: str) -> tuple[migrations.Version, str]:
    """Bring the database at `url` to this code's schema: where it stood before, and the
    revision it is at now."""
    db = Database(_engine(url))
    try:
        return _checked(db, url, migrate=True), migrations.head()
    finally:
        db.dispose()


def _engine(url: str, connections: int = 5) -> Engine:
    try:
        parsed = make_url(url)
        sqlite = parsed.get_backend_name() == "sqlite"
        memory = sqlite and parsed.database in (None, "", ":memory:")
        if sqlite and not memory:
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        pool = {} if memory else {"pool_size": connections, "max_overflow": connections}
        engine = create_engine(url, **pool)
    except (SQLAlchemyError, ValueError, ImportError, OSError) as exc:
        raise ConfigError(f"DIGEST_DATABASE_URL={safe_url(url)}: {_first_line(exc)}") from None
    if engine.dialect.name == "sqlite":
        _sqlite(engine)
    return engine


def _checked(db: Database, url: str, migrate: bool) -> migrations.Version:
    """The schema made current (created, or upgraded when `migrate`), or ConfigError; where
    it stood before."""
    try:
        with db.writing() as conn:
            _schema_lock(conn)
            version = migrations.version(conn)
            _make_current(conn, version, url, migrate)
            return version
    except SQLAlchemyError as exc:
        db.dispose()
        why = _first_line(exc.orig or exc)
        if isinstance(exc, OperationalError) and _refusing(url, why):
            raise Unavailable(f"{safe_url(url)}: {why}{_sqlite_folder(url)}") from None
        raise ConfigError(
            f"DIGEST_DATABASE_URL={safe_url(url)}: cannot open database: {why}"
        ) from None
    except ConfigError:
        db.dispose()
        raise


def _schema_lock(conn: Connection) -> None:
    """Two processes opening one new or old database at once take turns: SQLite's BEGIN
    IMMEDIATE already queues them; PostgreSQL waits on a lock held until commit."""
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({SCHEMA_LOCK})")


# Advisory lock keys on PostgreSQL (64-bit; "pdg" in the high bytes, the purpose below).
SCHEMA_LOCK = 0x706467_0001


def _make_current(conn: Connection, version: migrations.Version, url: str, migrate: bool) -> None:
    if version.up_to_date:
        return
    if version.empty:
        migrations.create(conn)
        return
    where = f"DIGEST_DATABASE_URL={safe_url(url)}"
    if version.newer:
        raise ConfigError(
            f"{where}: the database was upgraded by a newer paper-digest (schema revision "
            f"{version.current}; this one knows up to {version.head}): upgrade paper-digest"
        )
    if not migrate:
        at = (
            f"schema revision {version.current}"
            if version.current
            else "the schema of a version from before versioned migrations"
        )
        raise ConfigError(
            f"{where}: the database has {at}; this version needs revision {version.head}: "
            "back it up, then run `digest db upgrade` (or set DIGEST_AUTO_MIGRATE=true)"
        )
    migrations.upgrade(conn)


def _sqlite(engine: Engine) -> None:
    """pysqlite's own transaction handling skips BEGIN for some statements; take it over
    (SQLAlchemy's documented recipe) so rollback, and so --dry-run, undo everything."""

    @event.listens_for(engine, "connect")
    def _connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute(f"PRAGMA busy_timeout={BUSY_MS}")
        _wal(cur)
        # WAL's NORMAL: a commit survives the process being killed (what the outbox's exact
        # record relies on) without an fsync per sent message; only a power cut may lose the
        # last commits, which resends those messages (same Message-ID).
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        conn.exec_driver_sql(conn.get_execution_options().get("sqlite_begin", "BEGIN"))


# How long a SQLite connection waits for another's write lock before giving up.
BUSY_MS = 15_000


def _wal(cur: Any) -> None:
    """WAL mode is stored in the file, so only a new database is switched. The switch does
    not wait on SQLite's busy handler: a process that meets another one switching, or
    closing its last connection, is refused at once, so it looks again until the wait a
    write lock would get is used up."""
    deadline = time.monotonic() + BUSY_MS / 1000
    while True:
        try:
            if cur.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                cur.execute("PRAGMA journal_mode=WAL")
            return
        except Exception as exc:  # the driver's OperationalError, whichever driver it is
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.01 + random.random() * 0.02)


def _lost_a_race(exc: DBAPIError) -> bool:
    """The database refused the transaction for now, not for good."""
    code = getattr(exc.orig, "sqlstate", None)
    if code is not None:  # PostgreSQL: serialization failure, deadlock, lock not available
        return code in ("40001", "40P01", "55P03")
    text = str(exc.orig).lower()
    return "database is locked" in text or "database table is locked" in text


_REFUSING = ("readonly", "read-only", "locked", "disk is full", "disk i/o error")


def _refusing(url: str, why: str) -> bool:
    """Whether a database that failed to open is there but refusing for now, rather than
    misnamed: a SQLite file that exists, or a refusal that only a state explains."""
    if any(word in why.lower() for word in _REFUSING):
        return True
    path = _sqlite_path(url)
    return path is not None and path.is_file()


def _sqlite_path(url: str) -> Path | None:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database)


def _sqlite_folder(url: str) -> str:
    """Why SQLite cannot write beside its file, when the folder says: it keeps its journal
    there, so a read-only folder makes even reading fail with "unable to open"."""
    path = _sqlite_path(url)
    if path is None:
        return ""
    folder = path.resolve().parent
    try:
        if os.statvfs(folder).f_flag & os.ST_RDONLY:
            return f" ({folder} is on a read-only file system)"
    except OSError:
        return ""
    return "" if os.access(folder, os.W_OK) else f" ({folder} is not writable)"


def safe_url(url: str) -> str:
    """The database URL as it may appear in a message: password masked, up to the last
    '@' (a password holding an unescaped '@' is still all masked)."""
    scheme, _, rest = url.partition("://")
    credentials, at, place = rest.rpartition("@")
    if at and ":" in credentials:
        rest = f"{credentials.split(':', 1)[0]}:***@{place}"
    return repr(f"{scheme}://{rest}")


def refusal(exc: BaseException) -> str | None:
    """Why the database refused, in one line, when `exc` is its refusing for now (read-only,
    full, locked: a state, not a bug); else None."""
    if isinstance(exc, Unavailable):
        return str(exc)
    if isinstance(exc, OperationalError):
        return _first_line(exc.orig or exc)
    return None


def _first_line(exc: BaseException) -> str:
    """A driver's message without its hints and context lines: one line for the operator."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__
