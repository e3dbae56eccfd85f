"""Sentence embeddings of papers, for the optional semantic mode: computed once per paper.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "embeddings",
        sa.Column("paper_key", sa.String(), nullable=False),
        sa.Column("model", sa.String(), nullable=False),
        sa.Column("vector", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(["paper_key"], ["papers.key"]),
        sa.PrimaryKeyConstraint("paper_key", "model"),
    )


def downgrade() -> None:
    op.drop_table("embeddings")
