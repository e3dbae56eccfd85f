"""What the processes sharing one database know of each other: the run lock (deciding is done
by one run at a time), and each worker's presence (a worker's leases on outbox messages are
void once it is gone).

SQLite: files beside the database, locked with flock; the kernel releases a flock when its
holder dies, however it dies, and only processes on this host can share the file anyway.
PostgreSQL: advisory locks held by a session; the server releases them when the session
ends, whichever host it was on.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import socket
import time
from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Connection, text

from ..errors import Busy, ConfigError
from .engine import Database
from .runs import get_meta, set_meta

RUN_LOCK = 0x706467_0002  # "pdg", then the purpose (engine.SCHEMA_LOCK is 1)
_HOLDER = "run_lock_holder"


def _file(db: Database) -> Path | None:
    """The SQLite file, or None for a server database or an in-memory one."""
    url = db.engine.url
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    return Path(url.database)


def _stamp(what: str) -> str:
    when = datetime.now(UTC).isoformat(timespec="seconds")
    return f"{what} by pid {os.getpid()} on {socket.gethostname()} since {when}"


def _key(name: str) -> int:
    """A 63-bit advisory lock key for a worker id."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big") >> 1


# --- the run lock --------------------------------------------------------------------------


@contextmanager
def run_lock(db: Database, what: str = "run") -> Iterator[None]:
    """Hold the run lock for the block; Busy at once when another process holds it."""
    held = try_run_lock(db, what)
    if held is None:
        raise Busy(
            f"another digest run is in progress ({holder(db) or 'unknown process'}); "
            "this one exits without doing anything"
        )
    with held:
        yield


def try_run_lock(db: Database, what: str = "run") -> AbstractContextManager[None] | None:
    """The run lock, taken now and held until the returned context ends; None when another
    process holds it."""
    path = _file(db)
    if path is not None:
        return _flock(Path(f"{path}.lock"), _stamp(what))
    if db.engine.dialect.name == "postgresql":
        return _advisory(db, RUN_LOCK, note=_stamp(what))
    return _nothing()


@contextmanager
def _nothing() -> Iterator[None]:
    yield


def _flock(path: Path, stamp: str) -> AbstractContextManager[None] | None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise ConfigError(f"cannot open the run lock {path}: {exc.strerror}") from None
    if not _take(fd):
        os.close(fd)
        return None
    os.ftruncate(fd, 0)
    os.pwrite(fd, stamp.encode(), 0)

    @contextmanager
    def held() -> Iterator[None]:
        try:
            yield
        finally:
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    return held()


def _take(fd: int, tries: int = 5) -> bool:
    """Lock exclusively, unless another process holds the lock. `holder()` and `gone()` look
    with a shared lock for an instant: a few tries a few milliseconds apart tell that look
    from a holder."""
    for attempt in range(tries):
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if attempt < tries - 1:
                time.sleep(0.005)
    return False


def _advisory(
    db: Database, key: int, note: str | None = None
) -> AbstractContextManager[None] | None:
    """A session advisory lock on a connection of its own, kept open while it is held; `note`
    says who holds it (the run lock's holder, for `digest status`)."""
    conn = db.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
    if not conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar():
        conn.close()
        return None
    if note is not None:
        set_meta(conn, _HOLDER, note)

    @contextmanager
    def held() -> Iterator[None]:
        try:
            yield
        finally:
            try:
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
            finally:
                conn.close()

    return held()


def holder(db: Database) -> str | None:
    """Who holds the run lock now ("run by pid N on HOST since T"), or None if nobody does."""
    path = _file(db)
    if path is not None:
        return _flock_holder(Path(f"{path}.lock"))
    if db.engine.dialect.name == "postgresql":
        with db.reading() as conn:
            if _advisory_held(conn, [RUN_LOCK]):
                return get_meta(conn, _HOLDER) or "unknown process"
    return None


def _flock_holder(path: Path) -> str | None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:  # never taken, or its worker is done and removed it
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return os.pread(fd, 200, 0).decode("utf-8", "replace").strip() or "unknown process"
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


def _advisory_held(conn: Connection, keys: Iterable[int]) -> set[int]:
    """Of `keys`, the advisory locks some session holds now."""
    rows = conn.execute(
        text(
            "SELECT (classid::bigint << 32) | objid::bigint FROM pg_locks "
            "WHERE locktype = 'advisory' AND objsubid = 1 AND granted "
            "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
        )
    ).scalars()
    return set(rows) & set(keys)


# --- workers -------------------------------------------------------------------------------


def presence(db: Database, worker: str) -> AbstractContextManager[None]:
    """Mark `worker` present for the block: while it is, its leases hold; once it is gone
    (however it ended), another worker may take them at once."""
    path = _file(db)
    if path is not None:
        held = _flock(_presence_file(path, worker), worker)
        assert held is not None  # a fresh worker id: nobody else holds it
        return held
    if db.engine.dialect.name == "postgresql":
        held = _advisory(db, _key(worker))
        assert held is not None
        return held
    return _nothing()


def _presence_file(path: Path, worker: str) -> Path:
    return Path(f"{path}.workers") / hashlib.sha256(worker.encode()).hexdigest()[:24]


def gone(db: Database, workers: Iterable[str]) -> set[str]:
    """Of `workers`, those no longer present."""
    workers = set(workers)
    if not workers:
        return set()
    path = _file(db)
    if path is not None:
        return {w for w in workers if _flock_holder(_presence_file(path, w)) is None}
    if db.engine.dialect.name == "postgresql":
        keys = {_key(w): w for w in workers}
        with db.reading() as conn:
            held = _advisory_held(conn, keys)
        return {w for k, w in keys.items() if k not in held}
    return set()


def forget(db: Database, worker: str) -> None:
    """Remove what marked a finished worker's presence (SQLite's file)."""
    path = _file(db)
    if path is not None:
        _presence_file(path, worker).unlink(missing_ok=True)
