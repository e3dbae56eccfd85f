"""`digest db`: the database's schema."""

from __future__ import annotations

import click

from ..jobs.wiring import upgrade
from .common import guarded, settings


@click.group("db")
def db_cmd() -> None:
    """The database's schema: upgrade it after installing a new version."""


@db_cmd.command("upgrade")
def upgrade_cmd() -> None:
    """Bring the database to this version's schema (back it up first)."""
    before, now = guarded(upgrade, settings())
    if before.up_to_date:
        click.echo(f"the database is at revision {now}, this version's; nothing to do")
    elif before.empty:
        click.echo(f"created the database at revision {now}")
    else:
        click.echo(before.upgraded())
