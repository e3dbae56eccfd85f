"""A store whose size and cost do not grow with what it need not keep:

- the ledger (`claims`) is one narrow row per paper a digest carries, keyed by subscriber and
  paper; which papers a message carries, and which it passed over below its cut, are kept on
  the message (the passed-over ones only while they can still be listed: the diff reads them
  from the window's messages, and they are cleared after);
- a message's bytes are a row of their own (`bodies`), deleted once it is sent, so the space
  is reused (on PostgreSQL, by VACUUM) instead of the history holding it;
- messages are found by subscriber and day.

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
    sa.column("papers", sa.JSON),
    sa.column("passed_over", sa.JSON(none_as_null=True)),
)
_deliveries = sa.table(
    "deliveries",
    sa.column("subscriber_email"),
    sa.column("paper_key"),
    sa.column("message_id"),
    sa.column("included", sa.Boolean),
)


def upgrade() -> None:
    conn = op.get_bind()
    op.add_column("messages", sa.Column("papers", sa.JSON))
    op.add_column("messages", sa.Column("passed_over", sa.JSON))
    _move_keys_to_messages(conn)
    op.create_table(
        "claims",
        sa.Column("subscriber_email", sa.String, primary_key=True),
        sa.Column("paper_key", sa.String, sa.ForeignKey("papers.key"), primary_key=True),
        sqlite_with_rowid=False,
    )
    op.execute(
        "INSERT INTO claims (subscriber_email, paper_key) "
        "SELECT subscriber_email, paper_key FROM deliveries WHERE included"
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
    op.create_index("ix_messages_subscriber_day", "messages", ["subscriber_email", "day"])
    op.create_index(
        "ix_messages_passed_over",
        "messages",
        ["day"],
        sqlite_where=sa.text("passed_over IS NOT NULL"),
        postgresql_where=sa.text("passed_over IS NOT NULL"),
    )


def _move_keys_to_messages(conn: sa.Connection) -> None:
    """Each message's papers, and the ones it passed over, from the old ledger's rows."""
    carried: dict[str, list[str]] = defaultdict(list)
    passed: dict[str, list[str]] = defaultdict(list)
    rows = conn.execute(
        sa.select(_deliveries.c.message_id, _deliveries.c.paper_key, _deliveries.c.included)
    )
    for message_id, key, included in rows:
        (carried if included else passed)[message_id].append(key)
    for message_id in carried.keys() | passed.keys():
        conn.execute(
            sa.update(_messages)
            .where(_messages.c.message_id == message_id)
            .values(papers=carried.get(message_id, []), passed_over=passed.get(message_id))
        )


def downgrade() -> None:
    raise NotImplementedError("restore the backup taken before `digest db upgrade`")
