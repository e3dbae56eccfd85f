"""Alembic's environment: migrations run on the connection the store hands over, inside its
transaction (`migrations.upgrade`)."""

from __future__ import annotations

from alembic import context

from digest.store.schema import metadata

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=metadata)
with context.begin_transaction():
    context.run_migrations()
