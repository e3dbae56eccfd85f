"""The tables. SQLAlchemy Core, so one schema serves SQLite and a server database."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
)

from ..domain.subscriber import ACTIVE
from .types import UTCDateTime

metadata = MetaData()

# --- papers and listings -----------------------------------------------------------------

papers = Table(
    "papers",
    metadata,
    Column("key", String, primary_key=True),
    Column("source", String, nullable=False),
    Column("source_id", String, nullable=False),
    Column("arxiv_id", String, index=True),
    Column("title", Text, nullable=False),
    Column("title_norm", Text, nullable=False, index=True),
    Column("abstract", Text, nullable=False),
    Column("authors", JSON, nullable=False),
    Column("published_at", UTCDateTime),
    Column("upvotes", Integer),
    Column("url", Text),
    Column("pdf_url", Text),
    Column("code_url", Text),
    Column("project_url", Text),
    Column("organization", Text),
    Column("ai_keywords", JSON, nullable=False),
    Column("ai_summary", Text),
    Column("github_stars", Integer),
    Column("categories", JSON),
    Column("discussion_url", Text),
    Column("first_seen_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

listings = Table(
    "listings",
    metadata,
    Column("paper_key", String, ForeignKey("papers.key"), primary_key=True),
    Column("source", String, primary_key=True),
    Column("listed_on", Date, primary_key=True, index=True),
)

# --- subscribers ---------------------------------------------------------------------------

# The database is where subscribers live; the subscriber file, the CLI and the web app are
# ways in (subscriptions.rules). status: domain.subscriber's PENDING_CONFIRMATION, ACTIVE or
# UNSUBSCRIBED. origin: "web", "cli" or "file:<path>"; file_hash: the file entry as last
# imported, to tell an operator's edit of the entry from one the subscriber made since.
subscribers = Table(
    "subscribers",
    metadata,
    Column("email", String, primary_key=True),
    Column("name", Text),
    Column("profile", JSON, nullable=False),  # the subscriber-file entry (entry_of)
    Column("updated_at", UTCDateTime, nullable=False),
    Column("uid", String, nullable=False, unique=True),
    Column("status", String, nullable=False, server_default=ACTIVE),
    Column("paused", Boolean, nullable=False, server_default="0"),
    Column("origin", String, nullable=False, server_default="file"),
    Column("frequency", String, nullable=False, server_default="daily"),  # as in the profile
    Column("file_hash", String),
    Column("weekly_done", Date),  # the last weekly digest day decided for them
    Column("notices", JSON),  # when confirmation or link mails went out, for rate limiting
    Column("created_at", UTCDateTime),
    Column("confirmed_at", UTCDateTime),
    Column("unsubscribed_at", UTCDateTime),
)

# A reader's "more like this" (verdict "more") and "less like this" ("less") on papers a
# digest carried them: what rank.taste ranks their next digests with. One row per paper,
# the latest verdict; deleted with the subscriber.
ratings = Table(
    "ratings",
    metadata,
    Column("subscriber_email", String, primary_key=True),
    Column("paper_key", String, ForeignKey("papers.key"), primary_key=True),
    Column("verdict", String, nullable=False),
    Column("rated_at", UTCDateTime, nullable=False),
)
Index("ix_ratings_rated_at", ratings.c.rated_at)

# Papers readers name by arXiv id (a profile's `papers`): "wanted" until the next run looks
# them up on arXiv once, then "found" (stored in `papers`) or "missing" when arXiv has none.
seeds = Table(
    "seeds",
    metadata,
    Column("arxiv_id", String, primary_key=True),
    Column("state", String, nullable=False),
    Column("checked_at", UTCDateTime),
)

# A paper's sentence embedding (rank.semantic), computed once: float32 bytes, by model.
embeddings = Table(
    "embeddings",
    metadata,
    Column("paper_key", String, ForeignKey("papers.key"), primary_key=True),
    Column("model", String, primary_key=True),
    Column("vector", LargeBinary, nullable=False),
)

# --- the outbox and the ledger -------------------------------------------------------------

# A message is decided and stored (pending) before any delivery starts, so a run killed at any
# point leaves each digest either accepted (sent) or still pending with the same bytes and
# Message-ID. Statuses: domain.digest's PENDING, SENT, FAILED, CANCELLED.
messages = Table(
    "messages",
    metadata,
    Column("message_id", String, primary_key=True),
    Column("subscriber_email", String, nullable=False, index=True),
    Column("run_id", Integer, ForeignKey("runs.id")),
    Column("day", Date, nullable=False),
    Column("subject", Text, nullable=False),
    Column("status", String, nullable=False),
    Column("detail", Text),
    Column("created_at", UTCDateTime, nullable=False),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("sent_at", UTCDateTime),
    # The worker sending it, and until when no other may take it (jobs.outbox).
    Column("lease_owner", String),
    Column("lease_until", UTCDateTime),
    # The keys of the papers it carries: what freeing its claims frees.
    Column("papers", JSON(none_as_null=True)),
    # Of those, how many (the last ones) its trending section carried; null: none.
    Column("trending", Integer),
)

# The relay's connections, one row per slot (0 to SMTP_MAX_CONNECTIONS - 1): the worker
# that holds it may keep one connection open, and send at its share of SMTP_RATE_LIMIT.
# A slot whose holder is gone (lock.gone) is free, however that worker ended.
relay_slots = Table(
    "relay_slots",
    metadata,
    Column("slot", Integer, primary_key=True, autoincrement=False),
    Column("holder", String),
)

# A message's exact bytes, from when it is stored until the relay accepted it (or it ended
# otherwise): a row of its own, deleted then, so the space is reused rather than kept.
bodies = Table(
    "bodies",
    metadata,
    Column("message_id", String, ForeignKey("messages.message_id"), primary_key=True),
    Column("raw", LargeBinary, nullable=False),
)

# The ledger: each paper a pending or sent message carries to its subscriber. A paper here is
# never decided for that subscriber again; a message that fails or is cancelled frees its own.
# One narrow row each (no rowid on SQLite), keyed by paper first: a day's new papers sort
# after the old ones, so the ledger grows at its end and its pages stay full.
claims = Table(
    "claims",
    metadata,
    Column("paper_key", String, ForeignKey("papers.key"), primary_key=True),
    Column("subscriber_email", String, primary_key=True),
    sqlite_with_rowid=False,
)

# The papers a digest matched but ranked below its cut: seen, so not decided again while the
# lookback window can list them; deleted after that, so their space is reused day after day.
passed = Table(
    "passed",
    metadata,
    Column("message_id", String, ForeignKey("messages.message_id"), primary_key=True),
    Column("subscriber_email", String, nullable=False),
    Column("day", Date, nullable=False),
    Column("papers", JSON, nullable=False),
)
Index("ix_passed_subscriber_day", passed.c.subscriber_email, passed.c.day)
# The outbox in the order it is sent (leasing reads the next few, not every pending message).
Index("ix_messages_outbox", messages.c.status, messages.c.created_at, messages.c.message_id)

# Addresses with permanent refusals since their last accepted message; suppressed once
# `failures` reaches the threshold, until an operator re-enables them.
suppressions = Table(
    "suppressions",
    metadata,
    Column("email", String, primary_key=True),
    Column("failures", Integer, nullable=False),
    Column("last_answer", Text),
    Column("first_failed_at", UTCDateTime, nullable=False),
    Column("suppressed_at", UTCDateTime),
)

# --- runs, sources, and small facts --------------------------------------------------------

runs = Table(
    "runs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("started_at", UTCDateTime, nullable=False),
    Column("finished_at", UTCDateTime),
    Column("status", String, nullable=False),
    Column("window_start", Date, nullable=False),
    Column("window_end", Date, nullable=False),
    Column("fetched", Integer),
    Column("new", Integer),
    Column("mailed", Integer),
    Column("sent", Integer),
    Column("failed", Integer),
    Column("seconds", Float),
    Column("detail", Text),
    Column("worker", String),  # the process running it (jobs.outbox.worker_id)
)

# What each source's last runs learned of it (domain.source.SourceState). Written in the
# transaction that stores the papers, so a rolled-back run leaves the old validators.
source_states = Table(
    "sources",
    metadata,
    Column("name", String, primary_key=True),
    Column("url", Text),
    Column("etag", Text),
    Column("last_modified", Text),
    Column("built_at", UTCDateTime),
    Column("last_listed", Date),
    Column("first_checked", Date),
    Column("checked_through", Date),
    Column("checked_at", UTCDateTime),
    Column("last_error", Text),
    Column("failed_at", UTCDateTime),
)

meta = Table(
    "meta",
    metadata,
    Column("key", String, primary_key=True),
    Column("value", Text, nullable=False),
)
