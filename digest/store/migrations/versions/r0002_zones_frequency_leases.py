"""Timestamps that keep their time zone, each subscriber's frequency as a column of its own,
and leases on outbox messages (and the worker of each run), so several workers can share one
outbox.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

# Every timestamp column, per table. SQLite keeps no zone: its values are UTC already, and
# stay as they are; PostgreSQL's become TIMESTAMP WITH TIME ZONE.
TIMESTAMPS = {
    "papers": ("published_at", "first_seen_at", "updated_at"),
    "sources": ("built_at", "checked_at", "failed_at"),
    "subscribers": ("updated_at", "created_at", "confirmed_at", "unsubscribed_at"),
    "runs": ("started_at", "finished_at"),
    "messages": ("created_at", "sent_at"),
    "deliveries": ("decided_at",),
    "suppressions": ("first_failed_at", "suppressed_at"),
}

_subscribers = sa.table(
    "subscribers", sa.column("email"), sa.column("profile", sa.JSON), sa.column("frequency")
)


def upgrade() -> None:
    conn = op.get_bind()
    _zones("WITH")
    op.add_column(
        "subscribers", sa.Column("frequency", sa.String, nullable=False, server_default="daily")
    )
    weekly = [
        email
        for email, profile in conn.execute(sa.select(_subscribers.c.email, _subscribers.c.profile))
        if (profile or {}).get("frequency") == "weekly"
    ]
    for email in weekly:
        conn.execute(
            sa.update(_subscribers).where(_subscribers.c.email == email).values(frequency="weekly")
        )
    op.add_column("messages", sa.Column("lease_owner", sa.String))
    op.add_column("messages", sa.Column("lease_until", sa.DateTime(timezone=True)))
    op.add_column("runs", sa.Column("worker", sa.String))


def downgrade() -> None:
    op.drop_column("runs", "worker")
    op.drop_column("messages", "lease_until")
    op.drop_column("messages", "lease_owner")
    op.drop_column("subscribers", "frequency")
    _zones("WITHOUT")


def _zones(kind: str) -> None:
    """PostgreSQL's timestamps WITH or WITHOUT their time zone, read as UTC either way."""
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, columns in TIMESTAMPS.items():
        for column in columns:
            op.execute(
                f"ALTER TABLE {table} ALTER COLUMN {column} "
                f"TYPE TIMESTAMP {kind} TIME ZONE USING {column} AT TIME ZONE 'UTC'"
            )
