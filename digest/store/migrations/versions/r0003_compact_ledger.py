"""A store whose size and cost do not grow with what it need not keep:

- the ledger (`claims`) is one narrow row per paper a digest carries, keyed by paper and
  subscriber; which papers a message carries is kept on the message;
- the papers a digest passed over below its cut are one row per message (`passed`), kept
  only while a run's window can list them again;
- a message's bytes are a row of their own (`bodies`), deleted once it is sent, so the space
  is reused (on PostgreSQL, after VACUUM) instead of the history holding it.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    conn = op.get_bind()
    op.add_column("messages", sa.Column("papers", sa.JSON))
    op.create_table(
        "passed",
        sa.Column("message_id", sa.String, sa.ForeignKey("messages.message_id"), primary_key=True),
        sa.Column("subscriber_email", sa.String, nullable=False),
        sa.Column("day", sa.Date, nullable=False),
        sa.Column("papers", sa.JSON, nullable=False),
    )
    op.create_index("ix_passed_subscriber_day", "passed", ["subscriber_email", "day"])
    _move_keys(conn)
    op.create_table(
        "claims",
        sa.Column("paper_key", sa.String, sa.ForeignKey("papers.key"), primary_key=True),
        sa.Column("subscriber_email", sa.String, primary_key=True),
        sqlite_with_rowid=False,
    )
    op.execute(
        "INSERT INTO claims (paper_key, subscriber_email) "
        "SELECT paper_key, subscriber_email FROM deliveries WHERE included"
    )
    op.drop_table("deliveries")
    op.create_table(
        "bodies",
        sa.Column("message_id", sa.String, sa.ForeignKey("messages.message_id"), primary_key=True),
        sa.Column("raw", sa.LargeBinary, nullable=False),
    )
    op.execute(
        "INSERT INTO bodies (message_id, raw) "
        "SELECT message_id, raw FROM messages WHERE raw IS NOT NULL AND status = 'pending'"
    )
    if conn.dialect.name == "sqlite":  # SQLite drops a column in place (3.35 and later)
        op.execute("ALTER TABLE messages DROP COLUMN raw")
    else:
        op.drop_column("messages", "raw")


def _move_keys(conn: sa.Connection) -> None:
    """Each message's papers, and the ones it passed over, from the old ledger's rows: in SQL,
    so a year of history is neither held in memory nor sent over the wire."""
    gather = "json_agg" if conn.dialect.name == "postgresql" else "json_group_array"
    op.execute(
        f"UPDATE messages SET papers = (SELECT {gather}(d.paper_key) FROM deliveries d "
        "WHERE d.message_id = messages.message_id AND d.included) "
        "WHERE EXISTS (SELECT 1 FROM deliveries d "
        "WHERE d.message_id = messages.message_id AND d.included)"
    )
    op.execute(
        "INSERT INTO passed (message_id, subscriber_email, day, papers) "
        f"SELECT m.message_id, m.subscriber_email, m.day, {gather}(d.paper_key) "
        "FROM deliveries d JOIN messages m ON m.message_id = d.message_id "
        "WHERE NOT d.included GROUP BY m.message_id, m.subscriber_email, m.day"
    )


def downgrade() -> None:
    raise NotImplementedError("restore the backup taken before `digest db upgrade`")
