"""A database written by a version older than the baseline (only ever SQLite: no earlier
version ran on anything else), brought up to it in place: the columns added since, and a
random id for each subscriber."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy import Connection

# Columns the baseline has that earlier versions did not add, per table: (name, SQLite type
# and default).
ADDED: dict[str, tuple[tuple[str, str], ...]] = {
    "messages": (
        ("attempts", "INTEGER NOT NULL DEFAULT 0"),
        ("sent_at", "DATETIME"),
        ("raw", "BLOB"),
    ),
    "subscribers": (
        ("uid", "VARCHAR"),
        ("status", "VARCHAR NOT NULL DEFAULT 'active'"),
        ("paused", "BOOLEAN NOT NULL DEFAULT 0"),
        ("origin", "VARCHAR NOT NULL DEFAULT 'file'"),
        ("file_hash", "VARCHAR"),
        ("weekly_done", "DATE"),
        ("notices", "JSON"),
        ("created_at", "DATETIME"),
        ("confirmed_at", "DATETIME"),
        ("unsubscribed_at", "DATETIME"),
    ),
    "papers": (("categories", "JSON"), ("discussion_url", "TEXT")),
}

_subscribers = sa.table(
    "subscribers", sa.column("email"), sa.column("uid"), sa.column("created_at")
)


def add_missing_columns(conn: Connection) -> None:
    """Add what later versions added to the tables an earlier one created (the tables it did
    not create are created by the first revision as usual)."""
    tables = set(sa.inspect(conn).get_table_names())
    for table, columns in ADDED.items():
        if table not in tables:
            continue
        have = {c["name"] for c in sa.inspect(conn).get_columns(table)}
        for name, ddl in columns:
            if name not in have:
                conn.exec_driver_sql(f"ALTER TABLE {table} ADD COLUMN {name} {ddl}")
        if table == "subscribers" and "uid" not in have:
            _give_uids(conn)
    if "deliveries" in tables:
        have = {c["name"] for c in sa.inspect(conn).get_columns("deliveries")}
        if "sent_at" in have and "decided_at" not in have:
            conn.exec_driver_sql("ALTER TABLE deliveries RENAME COLUMN sent_at TO decided_at")


def _give_uids(conn: Connection) -> None:
    """Subscribers from before signed links get their random id."""
    stamp = datetime.now(UTC).replace(tzinfo=None)
    for email in list(conn.execute(sa.select(_subscribers.c.email)).scalars()):
        conn.execute(
            sa.update(_subscribers)
            .where(_subscribers.c.email == email)
            .values(uid=secrets.token_urlsafe(12), created_at=stamp)
        )
    conn.exec_driver_sql(
        "CREATE UNIQUE INDEX IF NOT EXISTS ix_subscribers_uid ON subscribers (uid)"
    )
