"""The settings turned into the parts a job runs: the database, the composer, the
transports, each handed only its own settings."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from ..compose.render import Composer
from ..deliver.transport import Transport, make_transport
from ..settings import Settings
from ..store import Database, Version, open_database, upgrade_database
from ..subscriptions.links import links_for


@contextmanager
def opened(settings: Settings) -> Iterator[Database]:
    """The configured database, disposed of on the way out."""
    db = open_database(
        settings.database.url,
        migrate=settings.database.auto_migrate,
        connections=settings.mail.smtp.max_connections + 4,  # the lanes, the run, the locks
    )
    try:
        yield db
    finally:
        db.dispose()


def upgrade(settings: Settings) -> tuple[Version, str]:
    """`digest db upgrade`: the database brought to this version's schema; where it stood
    before, and the revision it is at now."""
    return upgrade_database(settings.database.url)


def composer_for(settings: Settings) -> Composer:
    return Composer(settings.mail.sender, links_for(settings.web), settings.templates_dir)


def transport_for(settings: Settings) -> Transport:
    return make_transport(settings.mail)
