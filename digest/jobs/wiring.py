"""The settings turned into the parts a job runs: the database, the composer, the
transports, each handed only its own settings."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from ..compose.render import Composer
from ..deliver.transport import Transport, make_transport
from ..settings import Settings
from ..store import Database, open_database
from ..subscriptions.links import links_for


@contextmanager
def opened(settings: Settings) -> Iterator[Database]:
    """The configured database, disposed of on the way out."""
    db = open_database(settings.database_url)
    try:
        yield db
    finally:
        db.dispose()


def composer_for(settings: Settings) -> Composer:
    return Composer(settings.mail.sender, links_for(settings.web), settings.templates_dir)


def transport_for(settings: Settings) -> Transport:
    return make_transport(settings.mail)
