"""`digest subscribers`: list, add, remove, import, export and re-enable subscribers."""

from __future__ import annotations

import json
from pathlib import Path

import click

from ..domain.subscriber import MAX_TRENDING, NEW_SUBSCRIBER_TRENDING, entry_of
from ..jobs import roster
from .common import console, guarded, settings


@click.group("subscribers")
def subscribers_cmd() -> None:
    """List, add, remove, import and export subscribers."""


@subscribers_cmd.command("list")
@click.option(
    "--status",
    type=click.Choice(["active", "paused", "pending", "unsubscribed", "all"]),
    default="all",
    show_default=True,
)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def list_cmd(status: str, as_json: bool) -> None:
    """Show subscribers: state, frequency, keywords, where they came from."""
    from rich import box
    from rich.table import Table
    from rich.text import Text

    everyone = guarded(roster.members, settings())
    chosen = [m for m in everyone if status in ("all", m.state)]
    if as_json:
        rows = [
            {
                **entry_of(m.subscriber),
                "state": m.state,
                "origin": m.origin,
                "since": f"{m.confirmed_at or m.created_at:%Y-%m-%d}",
            }
            for m in chosen
        ]
        click.echo(json.dumps(rows, indent=2, ensure_ascii=False))
        return
    if not chosen:
        if everyone:
            click.echo(f"no subscribers match --status {status} ({len(everyone)} in all)")
        else:
            click.echo(
                "no subscribers yet: `digest subscribers add`, a subscriber file, "
                "or the subscribe page of `digest serve`"
            )
        return
    table = Table(title=f"{len(chosen)} subscriber(s)" + ("" if status == "all" else f", {status}"))
    table.box = box.SIMPLE_HEAD
    # As wide as the terminal, if need be: a narrow one folds the long columns (no minimum
    # width, which would push the table past the edge), and none is ever cut short.
    table.add_column("email", overflow="fold")
    table.add_column("state", no_wrap=True)
    table.add_column("digest", no_wrap=True)
    table.add_column("keywords", overflow="fold")
    table.add_column("from", overflow="fold")
    for m in chosen:
        sub = m.subscriber
        table.add_row(
            Text(sub.email),
            m.state,
            sub.frequency,
            Text(", ".join(k.term for k in sub.keywords)),
            Text(Path(m.origin.removeprefix("file:")).name),
        )
    console().print(table)


@subscribers_cmd.command("add")
@click.argument("email")
@click.option(
    "-k", "--keyword", "keywords", multiple=True, help="Repeatable; none with --trending only."
)
@click.option("--name")
@click.option("--exclude", multiple=True, help="A term that vetoes a paper. Repeatable.")
@click.option("--author", "authors", multiple=True, help="An author to follow. Repeatable.")
@click.option("--max-papers", type=int)
@click.option("--weekly", is_flag=True, help="One digest a week instead of every day.")
@click.option(
    "--trending",
    type=click.IntRange(0, MAX_TRENDING),
    default=NEW_SUBSCRIBER_TRENDING,
    show_default=True,
    help="The day's N most upvoted other papers, after the picks (0: none).",
)
@click.option(
    "--category",
    "categories",
    multiple=True,
    help="Keep the digest to this arXiv category (cs.RO) or archive (cs). Repeatable.",
)
@click.option(
    "--paper",
    "papers",
    multiple=True,
    help="A paper the reader likes, by arXiv id (2401.12345): like it, ranked up. Repeatable.",
)
def add_cmd(
    email: str,
    keywords: tuple[str, ...],
    name: str | None,
    exclude: tuple[str, ...],
    authors: tuple[str, ...],
    max_papers: int | None,
    weekly: bool,
    trending: int,
    categories: tuple[str, ...],
    papers: tuple[str, ...],
) -> None:
    """Subscribe EMAIL (active at once), or update its profile."""
    fields = {
        "email": email,
        "keywords": keywords,
        "name": name,
        "exclude": exclude,
        "authors": authors,
        "max_papers": max_papers or None,  # 0, like no value, leaves the default
        "frequency": "weekly" if weekly else None,
        "categories": categories,
        "papers": papers,
        "trending": trending,
    }
    what, note = guarded(roster.add, settings(), fields)
    click.echo(f"{email.strip().lower()}: {what}")
    if note:
        click.echo(f"note: {note}", err=True)


@subscribers_cmd.command("remove")
@click.argument("email")
def remove_cmd(email: str) -> None:
    """Delete EMAIL and cancel its pending mail (what it was sent stays in the ledger)."""
    config = settings()
    guarded(roster.remove, config, email)
    click.echo(f"{email}: removed")
    if roster.still_listed(config.subscribers, email):
        click.echo(
            f"note: {config.subscribers.path} still lists {email}; delete the entry there too, "
            "or the next change to that file brings it back",
            err=True,
        )


@subscribers_cmd.command("import")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
def import_cmd(file: Path) -> None:
    """Import a subscriber file now (the rules are in the README, "Subscribers")."""
    result = guarded(roster.import_path, settings(), file)
    click.echo(f"imported {file}: {result.summary()}")


@subscribers_cmd.command("export")
@click.option("--all", "everyone", is_flag=True, help="Also pending and unsubscribed ones.")
def export_cmd(everyone: bool) -> None:
    """Write subscribers as a subscriber file (TOML) to stdout."""
    click.echo(guarded(roster.export, settings(), everyone=everyone), nl=False)


@subscribers_cmd.command("enable")
@click.argument("email")
def enable_cmd(email: str) -> None:
    """Re-enable EMAIL after it was suppressed for repeated permanent refusals."""
    if guarded(roster.enable, settings(), email):
        click.echo(f"{email}: re-enabled; the next run mails it again")
    else:
        click.echo(f"{email}: was not suppressed; nothing to do")
