"""The settings turned into the parts a job runs: the database, the composer, the
transports, each handed only its own settings."""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy.engine import make_url

from ..compose.render import Composer
from ..deliver.transport import Transport, make_transport
from ..settings import Settings
from ..store import Database, Version, open_database, upgrade_database
from ..subscriptions.links import links_for


@contextmanager
def opened(settings: Settings, *, look_only: bool = False) -> Iterator[Database]:
    """The configured database, disposed of on the way out. For a look that changes no
    state (`look_only`: a dry run, `digest rank`, `preview`, `status`), a SQLite file that
    does not exist yet is not created: the look goes to an empty one in a temporary folder."""
    url = settings.database.url
    with contextlib.ExitStack() as stack:
        if look_only and _absent_sqlite_file(url):
            folder = stack.enter_context(tempfile.TemporaryDirectory(prefix="digest-look-"))
            url = f"sqlite:///{Path(folder) / 'digest.db'}"
        db = open_database(
            url,
            migrate=settings.database.auto_migrate,
            connections=settings.mail.smtp.max_connections + 4,  # the lanes, the run, the locks
        )
        try:
            yield db
        finally:
            db.dispose()


def _absent_sqlite_file(url: str) -> bool:
    """A plain SQLite file path that does not exist (not a `file:` URI, not memory)."""
    try:
        parsed = make_url(url)
    except ValueError:  # open_database says what is wrong with it
        return False
    name = parsed.database or ""
    if parsed.get_backend_name() != "sqlite" or name in ("", ":memory:"):
        return False
    if name.startswith("file:") or parsed.query.get("uri"):
        return False
    return not Path(name).exists()


def upgrade(settings: Settings) -> tuple[Version, str]:
    """`digest db upgrade`: the database brought to this version's schema; where it stood
    before, and the revision it is at now."""
    return upgrade_database(settings.database.url)


def composer_for(settings: Settings) -> Composer:
    return Composer(settings.mail.sender, links_for(settings.web), settings.templates_dir)


def transport_for(settings: Settings) -> Transport:
    return make_transport(settings.mail)
