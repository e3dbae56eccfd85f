"""The databases the tests run against: a SQLite file in the test's folder, and, when a
PostgreSQL server answers, a database of its own on it, dropped after the test.

The server is DIGEST_TEST_DATABASE_URL, or the one on 127.0.0.1:5432 (as user postgres, then
root). Where none answers, the PostgreSQL variants skip with a line saying how to enable
them, except under CI=true, where that is a failure."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path

from sqlalchemy.engine import make_url

CANDIDATES = (
    "postgresql+psycopg://postgres@127.0.0.1:5432/postgres",
    "postgresql+psycopg://root@127.0.0.1:5432/postgres",
)
HOW = (
    "PostgreSQL is not reachable: set DIGEST_TEST_DATABASE_URL="
    "postgresql+psycopg://USER@HOST:PORT/DB (a user that may create databases) to run these"
)

# The database each test folder's `digest` uses, when it is not the SQLite file in it.
_REGISTERED: dict[Path, str] = {}


def database_url(folder: Path) -> str:
    """The database a test working in `folder` uses."""
    return _REGISTERED.get(folder.resolve(), f"sqlite:///{folder / 'digest.db'}")


def is_postgres(folder: Path) -> bool:
    return database_url(folder).startswith("postgresql")


def database_env(folder: Path) -> dict[str, str]:
    """What a `digest` process started in `folder` needs to use the test's database: nothing
    for the SQLite file (the default, digest.db in its working directory)."""
    url = _REGISTERED.get(folder.resolve())
    return {"DIGEST_DATABASE_URL": url} if url else {}


def _psycopg_url(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@cache
def admin_url() -> str | None:
    """A PostgreSQL server that answers, as a URL to a database there, or None."""
    import psycopg

    given = os.environ.get("DIGEST_TEST_DATABASE_URL")
    for url in [given] if given else CANDIDATES:
        try:
            with psycopg.connect(_psycopg_url(url), connect_timeout=3, autocommit=True):
                return url
        except psycopg.Error:
            continue
    return None


@contextmanager
def fresh_postgres(folder: Path) -> Iterator[str]:
    """A new, empty database on the server, registered for `folder`, dropped afterwards."""
    import psycopg

    admin = admin_url()
    assert admin is not None
    name = f"digest_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(_psycopg_url(admin), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = make_url(admin).set(database=name).render_as_string(hide_password=False)
    _REGISTERED[folder.resolve()] = url
    try:
        yield url
    finally:
        _REGISTERED.pop(folder.resolve(), None)
        with psycopg.connect(_psycopg_url(admin), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
