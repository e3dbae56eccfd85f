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

from collections import defaultdict

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_messages = sa.table(
    "messages",
    sa.column("message_id"),
    sa.column("subscriber_email"),
    sa.column("day", sa.Date),
    sa.column("papers", sa.JSON),
)
_passed = sa.table(
    "passed",
    sa.column("message_id"),
    sa.column("subscriber_email"),
    sa.column("day", sa.Date),
    sa.column("papers", sa.JSON),
)
_deliveries = sa.table(
    "deliveries",
    sa.column("paper_key"),
    sa.column("message_id"),
    sa.column("included", sa.Boolean),
)


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
    """Each message's papers, and the ones it passed over, from the old ledger's rows."""
    carried: dict[str, list[str]] = defaultdict(list)
    passed: dict[str, list[str]] = defaultdict(list)
    rows = conn.execute(
        sa.select(_deliveries.c.message_id, _deliveries.c.paper_key, _deliveries.c.included)
    )
    for message_id, key, included in rows:
        (carried if included else passed)[message_id].append(key)
    for message_id, keys in carried.items():
        conn.execute(
            sa.update(_messages).where(_messages.c.message_id == message_id).values(papers=keys)
        )
    for message_id, keys in passed.items():
        whose = sa.select(_messages.c.subscriber_email, _messages.c.day)
        email, day = conn.execute(whose.where(_messages.c.message_id == message_id)).one()
        conn.execute(
            sa.insert(_passed).values(
                message_id=message_id, subscriber_email=email, day=day, papers=keys
            )
        )


def downgrade() -> None:
    raise NotImplementedError("restore the backup taken before `digest db upgrade`")
