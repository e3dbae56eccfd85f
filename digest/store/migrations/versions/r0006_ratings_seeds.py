"""A reader's ratings ("more like this" and "less like this" on the papers of their digests),
and the papers readers name by arXiv id that are still to be looked up (or that arXiv lacks).

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ratings",
        sa.Column("subscriber_email", sa.String(), nullable=False),
        sa.Column("paper_key", sa.String(), nullable=False),
        sa.Column("verdict", sa.String(), nullable=False),
        sa.Column("rated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["paper_key"], ["papers.key"]),
        sa.PrimaryKeyConstraint("subscriber_email", "paper_key"),
    )
    op.create_index("ix_ratings_rated_at", "ratings", ["rated_at"], unique=False)
    op.create_table(
        "seeds",
        sa.Column("arxiv_id", sa.String(), nullable=False),
        sa.Column("state", sa.String(), nullable=False),
        sa.Column("checked_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("arxiv_id"),
    )


def downgrade() -> None:
    op.drop_table("seeds")
    op.drop_index("ix_ratings_rated_at", table_name="ratings")
    op.drop_table("ratings")
