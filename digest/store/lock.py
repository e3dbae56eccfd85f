"""One run at a time: an exclusive lock on a file beside the database.

The kernel releases a flock when its holder dies, however it dies, so a crashed run never
blocks the next one; the file itself is left in place and only names the last holder.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from ..errors import Busy, ConfigError


def lock_path(database_url: str) -> Path | None:
    """`digest.db.lock` beside a SQLite file; None for an in-memory database (nothing to
    share); for a server database, a per-URL file in the temp folder (one host only)."""
    try:
        url = make_url(database_url)
    except (ArgumentError, ValueError):
        raise ConfigError("DIGEST_DATABASE_URL is not a database URL SQLAlchemy can read") from None
    if url.get_backend_name() == "sqlite":
        if url.database in (None, "", ":memory:"):
            return None
        return Path(f"{url.database}.lock")
    tag = hashlib.sha256(url.render_as_string(hide_password=False).encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"paper-digest-{tag}.lock"


def _named(fd: int) -> str:
    """What the holder wrote into the lock file about itself."""
    return os.pread(fd, 200, 0).decode("utf-8", "replace").strip() or "unknown process"


@contextmanager
def run_lock(database_url: str, what: str = "run") -> Iterator[None]:
    path = lock_path(database_url)
    if path is None:
        yield
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise ConfigError(f"cannot open the run lock {path}: {exc.strerror}") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise Busy(
                f"another digest run is in progress ({_named(fd)}; lock {path}); "
                "this one exits without doing anything"
            ) from None
        os.ftruncate(fd, 0)
        stamp = datetime.now(UTC).isoformat(timespec="seconds")
        os.pwrite(fd, f"{what} by pid {os.getpid()} since {stamp}".encode(), 0)
        try:
            yield
        finally:
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def holder(database_url: str) -> str | None:
    """Who holds the run lock now ("run by pid N since T"), or None if nobody does."""
    path = lock_path(database_url)
    if path is None or not path.exists():
        return None
    fd = os.open(path, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return _named(fd)
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)
