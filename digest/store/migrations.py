"""A database written by an earlier version, brought up to this schema in place."""

from __future__ import annotations

from sqlalchemy import Connection, inspect, select, update

from .rows import new_uid, now
from .schema import subscribers

# Columns added since the first release, per table: (name, SQLite type and default).
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


def upgrade(conn: Connection) -> None:
    """Add what later versions added to the tables an earlier one created; tables that do
    not exist yet are left to `create_all`."""
    tables = set(inspect(conn).get_table_names())
    for table, columns in ADDED.items():
        if table not in tables:
            continue
        have = {c["name"] for c in inspect(conn).get_columns(table)}
        for name, ddl in columns:
            if name not in have:
                conn.exec_driver_sql(f"ALTER TABLE {table} ADD COLUMN {name} {ddl}")
        if table == "subscribers" and "uid" not in have:
            _give_uids(conn)
    if "deliveries" in tables:
        have = {c["name"] for c in inspect(conn).get_columns("deliveries")}
        if "sent_at" in have and "decided_at" not in have:
            conn.exec_driver_sql("ALTER TABLE deliveries RENAME COLUMN sent_at TO decided_at")


def _give_uids(conn: Connection) -> None:
    """Subscribers from before signed links get their random id."""
    for email in list(conn.execute(select(subscribers.c.email)).scalars()):
        conn.execute(
            update(subscribers)
            .where(subscribers.c.email == email)
            .values(uid=new_uid(), created_at=now())
        )
    conn.exec_driver_sql(
        "CREATE UNIQUE INDEX IF NOT EXISTS ix_subscribers_uid ON subscribers (uid)"
    )
