"""Storage: the only package that speaks SQL (SQLAlchemy Core). One module per group of
tables (papers and listings, subscribers, outbox and ledger, leases, suppressions, runs and
source state), the schema and its migrations, the engine, and the locks. It keeps what it is
told and holds no rules: the jobs decide, then call it inside the transactions they open."""

from . import (
    embeddings,
    leases,
    outbox,
    papers,
    ratings,
    runs,
    seeds,
    sent,
    slots,
    subscribers,
    suppressions,
)
from .engine import Database, Tx, open_database, upgrade_database
from .migrations import Version
from .rows import now

__all__ = [
    "Database",
    "Tx",
    "Version",
    "embeddings",
    "leases",
    "now",
    "open_database",
    "outbox",
    "papers",
    "ratings",
    "runs",
    "seeds",
    "sent",
    "slots",
    "subscribers",
    "suppressions",
    "upgrade_database",
]
