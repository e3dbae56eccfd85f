"""Versioned schema migrations, with Alembic: one numbered revision per schema change under
`versions/`, run by `digest db upgrade`. An empty database is created at the newest revision
straight from the schema; one that an older version wrote is upgraded only when asked to."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.script.revision import ResolutionError
from alembic.util import CommandError
from sqlalchemy import Connection, inspect

from ..schema import metadata

HERE = Path(__file__).resolve().parent


def _config(conn: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(HERE))
    config.attributes["connection"] = conn
    return config


def _scripts() -> ScriptDirectory:
    return ScriptDirectory.from_config(_config())


def head() -> str:
    found = _scripts().get_current_head()
    assert found is not None
    return found


@dataclass(frozen=True)
class Version:
    """Where a database's schema stands against this code's."""

    current: str | None  # its revision; None for an empty or a pre-migrations database
    head: str  # the newest revision this code knows
    empty: bool  # no tables at all
    known: bool  # `current` is one of this code's revisions

    @property
    def up_to_date(self) -> bool:
        return self.current == self.head

    def upgraded(self) -> str:
        """What upgrading from here to head did, in the operator's words."""
        was = f"revision {self.current}" if self.current else "a schema from before versioning"
        return f"upgraded the database from {was} to revision {self.head}"

    @property
    def newer(self) -> bool:
        """Written by a newer version of paper-digest."""
        return self.current is not None and not self.known


def version(conn: Connection) -> Version:
    current = MigrationContext.configure(conn).get_current_revision()
    empty = not inspect(conn).get_table_names()
    return Version(current, head(), empty, current is None or _known(current))


def _known(revision: str) -> bool:
    try:
        return _scripts().get_revision(revision) is not None
    except (ResolutionError, CommandError):
        return False


def create(conn: Connection) -> None:
    """The newest schema in an empty database, marked as at the newest revision."""
    metadata.create_all(conn)
    command.stamp(_config(conn), "head")


def upgrade(conn: Connection, target: str = "head") -> None:
    """Every revision the database has not had, in order, up to `target`."""
    command.upgrade(_config(conn), target)
