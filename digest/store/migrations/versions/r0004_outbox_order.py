"""The outbox read in the order it is sent: an index on (status, created_at, message_id), so
a worker leasing the next few pending messages reads those few, not every pending message
(which made leasing cost grow with the backlog: ~450 page reads per message sent at 10,000).
It replaces the index on status alone, which it covers.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_messages_outbox", "messages", ["status", "created_at", "message_id"], unique=False
    )
    present = {ix["name"] for ix in sa.inspect(op.get_bind()).get_indexes("messages")}
    if "ix_messages_status" in present:  # a store from before the baseline never had it
        op.drop_index("ix_messages_status", table_name="messages")


def downgrade() -> None:
    op.create_index("ix_messages_status", "messages", ["status"], unique=False)
    op.drop_index("ix_messages_outbox", table_name="messages")
