"""Storage: the only package that speaks SQL (SQLAlchemy Core). One module per group of
tables (papers and listings, subscribers, outbox and ledger, runs and source state), the
schema and its upgrades, the engine, and the run lock. It keeps what it is told and holds no
rules: the jobs decide, then call it inside the transactions they open."""

from . import outbox, papers, runs, subscribers
from .engine import Database, Tx, open_database, upgrade_database
from .migrations import Version
from .rows import now

__all__ = [
    "Database",
    "Tx",
    "Version",
    "now",
    "open_database",
    "outbox",
    "papers",
    "runs",
    "subscribers",
    "upgrade_database",
]
