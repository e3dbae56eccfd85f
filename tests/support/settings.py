"""Settings for library calls in a test's working directory, and its subscriber file."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine

from digest.jobs.roster import sync_file
from digest.settings import Settings, SubscriberFile, load_settings
from digest.store import Database, open_database
from tests.support.databases import database_url

SUBSCRIBERS = """
[[subscriber]]
email = "ada@example.org"
name = "Ada Lovelace"
keywords = ["world model", "reinforcement learning", { term = "robot", weight = 2.0 }]
exclude = ["survey"]
max_papers = 5

[[subscriber]]
email = "grace@example.org"
keywords = ["diffusion", "video generation"]
"""


def make_settings(workdir: Path, **env: str) -> Settings:
    base = {
        "DIGEST_DATABASE_URL": database_url(workdir),
        "DIGEST_SUBSCRIBERS": str(workdir / "subscribers.toml"),
        "DIGEST_OUTBOX_DIR": str(workdir / "outbox"),
        "DIGEST_SOURCES": "sample",
        "SMTP_RETRY_DELAY": "0.01",
        "SMTP_TIMEOUT": "1",
    }
    base.update(env)
    return load_settings(base, dotenv_path=None)


def open_engine(url: str) -> Engine:
    """The database at `url` opened as the product opens it (schema created or upgraded), as
    an engine for a test to look into."""
    return open_database(url).engine


def database_of(workdir: Path) -> Database:
    """The database that make_settings(workdir) names."""
    return open_database(database_url(workdir))


def engine_of(workdir: Path) -> Engine:
    """The database that make_settings(workdir) names, as an engine."""
    return database_of(workdir).engine


def imported(workdir: Path) -> tuple[Database, SubscriberFile]:
    """The database of make_settings(workdir), its subscriber file imported as a run would."""
    file = SubscriberFile(workdir / "subscribers.toml", True)
    db = database_of(workdir)
    with db.begin() as conn:
        sync_file(conn, file)
    return db, file
