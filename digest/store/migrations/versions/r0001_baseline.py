"""The baseline: every table as paper-digest created it before migrations were versioned (the
schema of release 0.1.0). A database from that time or earlier (tables, but no
alembic_version) is brought up to it in place, adding what earlier versions lacked.

Revision ID: 0001
Revises:
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from digest.store.migrations.legacy import add_missing_columns

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    conn = op.get_bind()
    existing = set(sa.inspect(conn).get_table_names())
    if existing:
        add_missing_columns(conn)
    if "papers" not in existing:
        op.create_table(
            "papers",
            sa.Column("key", sa.String, primary_key=True),
            sa.Column("source", sa.String, nullable=False),
            sa.Column("source_id", sa.String, nullable=False),
            sa.Column("arxiv_id", sa.String, index=True),
            sa.Column("title", sa.Text, nullable=False),
            sa.Column("title_norm", sa.Text, nullable=False, index=True),
            sa.Column("abstract", sa.Text, nullable=False),
            sa.Column("authors", sa.JSON, nullable=False),
            sa.Column("published_at", sa.DateTime),
            sa.Column("upvotes", sa.Integer),
            sa.Column("url", sa.Text),
            sa.Column("pdf_url", sa.Text),
            sa.Column("code_url", sa.Text),
            sa.Column("project_url", sa.Text),
            sa.Column("organization", sa.Text),
            sa.Column("ai_keywords", sa.JSON, nullable=False),
            sa.Column("ai_summary", sa.Text),
            sa.Column("github_stars", sa.Integer),
            sa.Column("categories", sa.JSON),
            sa.Column("discussion_url", sa.Text),
            sa.Column("first_seen_at", sa.DateTime, nullable=False),
            sa.Column("updated_at", sa.DateTime, nullable=False),
        )
    if "listings" not in existing:
        op.create_table(
            "listings",
            sa.Column("paper_key", sa.String, sa.ForeignKey("papers.key"), primary_key=True),
            sa.Column("source", sa.String, primary_key=True),
            sa.Column("listed_on", sa.Date, primary_key=True, index=True),
        )
    if "sources" not in existing:
        op.create_table(
            "sources",
            sa.Column("name", sa.String, primary_key=True),
            sa.Column("url", sa.Text),
            sa.Column("etag", sa.Text),
            sa.Column("last_modified", sa.Text),
            sa.Column("built_at", sa.DateTime),
            sa.Column("last_listed", sa.Date),
            sa.Column("first_checked", sa.Date),
            sa.Column("checked_through", sa.Date),
            sa.Column("checked_at", sa.DateTime),
            sa.Column("last_error", sa.Text),
            sa.Column("failed_at", sa.DateTime),
        )
    if "subscribers" not in existing:
        op.create_table(
            "subscribers",
            sa.Column("email", sa.String, primary_key=True),
            sa.Column("name", sa.Text),
            sa.Column("profile", sa.JSON, nullable=False),
            sa.Column("updated_at", sa.DateTime, nullable=False),
            sa.Column("uid", sa.String, nullable=False, unique=True),
            sa.Column("status", sa.String, nullable=False, server_default="active"),
            sa.Column("paused", sa.Boolean, nullable=False, server_default="0"),
            sa.Column("origin", sa.String, nullable=False, server_default="file"),
            sa.Column("file_hash", sa.String),
            sa.Column("weekly_done", sa.Date),
            sa.Column("notices", sa.JSON),
            sa.Column("created_at", sa.DateTime),
            sa.Column("confirmed_at", sa.DateTime),
            sa.Column("unsubscribed_at", sa.DateTime),
        )
    if "meta" not in existing:
        op.create_table(
            "meta",
            sa.Column("key", sa.String, primary_key=True),
            sa.Column("value", sa.Text, nullable=False),
        )
    if "runs" not in existing:
        op.create_table(
            "runs",
            sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
            sa.Column("started_at", sa.DateTime, nullable=False),
            sa.Column("finished_at", sa.DateTime),
            sa.Column("status", sa.String, nullable=False),
            sa.Column("window_start", sa.Date, nullable=False),
            sa.Column("window_end", sa.Date, nullable=False),
            sa.Column("fetched", sa.Integer),
            sa.Column("new", sa.Integer),
            sa.Column("mailed", sa.Integer),
            sa.Column("sent", sa.Integer),
            sa.Column("failed", sa.Integer),
            sa.Column("seconds", sa.Float),
            sa.Column("detail", sa.Text),
        )
    if "messages" not in existing:
        op.create_table(
            "messages",
            sa.Column("message_id", sa.String, primary_key=True),
            sa.Column("subscriber_email", sa.String, nullable=False, index=True),
            sa.Column("run_id", sa.Integer, sa.ForeignKey("runs.id")),
            sa.Column("day", sa.Date, nullable=False),
            sa.Column("subject", sa.Text, nullable=False),
            sa.Column("status", sa.String, nullable=False, index=True),
            sa.Column("detail", sa.Text),
            sa.Column("created_at", sa.DateTime, nullable=False),
            sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
            sa.Column("sent_at", sa.DateTime),
            sa.Column("raw", sa.LargeBinary),
        )
    if "deliveries" not in existing:
        op.create_table(
            "deliveries",
            sa.Column("subscriber_email", sa.String, primary_key=True),
            sa.Column("paper_key", sa.String, sa.ForeignKey("papers.key"), primary_key=True),
            sa.Column(
                "message_id",
                sa.String,
                sa.ForeignKey("messages.message_id"),
                nullable=False,
                index=True,
            ),
            sa.Column("included", sa.Boolean, nullable=False),
            sa.Column("decided_at", sa.DateTime, nullable=False),
        )
    if "suppressions" not in existing:
        op.create_table(
            "suppressions",
            sa.Column("email", sa.String, primary_key=True),
            sa.Column("failures", sa.Integer, nullable=False),
            sa.Column("last_answer", sa.Text),
            sa.Column("first_failed_at", sa.DateTime, nullable=False),
            sa.Column("suppressed_at", sa.DateTime),
        )


def downgrade() -> None:
    for table in (
        "suppressions",
        "deliveries",
        "messages",
        "runs",
        "meta",
        "subscribers",
        "sources",
        "listings",
        "papers",
    ):
        op.drop_table(table)
