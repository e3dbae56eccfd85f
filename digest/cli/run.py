"""The daily job and its looks: `digest run`, `fetch`, `rank` and `preview`."""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

import click

from ..domain.digest import Ranked
from ..jobs import daily, inspect, send
from ..jobs.plan import span
from ..progress import for_terminal
from .common import console, date_option, guarded, settings


@click.command("run")
@date_option
@click.option(
    "--dry-run", is_flag=True, help="Render and report, but send nothing and change no state."
)
@click.option(
    "--workers",
    type=click.IntRange(1, 64),
    help="Processes to decide, compose and send with (default: DIGEST_WORKERS, else one per "
    "2,000 subscribers up to the machine's cores, at most 8).",
)
def run_cmd(day: date | None, dry_run: bool, workers: int | None) -> None:
    """Fetch, diff, rank, compose and deliver: the daily job."""
    config = settings()
    if workers is not None:
        config = replace(config, workers=workers)
    result = guarded(daily.run, config, day, dry_run=dry_run, reporter=for_terminal())
    if result.mailed == 0 and not result.source_failures:
        stale = "".join(f"; {name} looks stale: {why}" for name, why in result.stale)
        click.echo(f"nothing new for any of {result.subscribers} subscribers{stale}", err=True)
    if result.sent and config.mail.backend == "file":
        click.echo(
            f"emails written to {config.mail.outbox_dir.resolve()}/ (open the .html files)",
            err=True,
        )
    click.echo(result.summary())
    sys.exit(result.exit_code)


@click.command("send")
def send_cmd() -> None:
    """Send what the outbox holds, as one more worker beside any runs."""
    result = guarded(send.drain, settings(), reporter=for_terminal())
    status = "ok" if result.ok else "FAILED"
    parts = [f"{result.earlier} pending", f"{result.sent} sent, {result.failed} failed"]
    if result.deferred:
        parts.append(f"{result.deferred} left pending for the next run")
    if result.unrecorded:
        parts.append(f"{result.unrecorded} sent but not recorded")
    if result.delivery_error:
        parts.append("delivery stopped")
    tail = f" -> {result.destination}" if result.sent else ""
    click.echo(f"send {status}: " + "; ".join(parts) + tail)
    sys.exit(result.exit_code)


@click.command("fetch")
@date_option
def fetch_cmd(day: date | None) -> None:
    """Fetch listings and store them; send nothing."""
    result = guarded(inspect.fetch, settings(), day, reporter=for_terminal())
    status = "ok" if result.ok else "FAILED"
    click.echo(
        f"fetch {status}: {result.fetched} papers ({result.new} new) "
        f"for {', '.join(map(str, result.days))}"
    )
    sys.exit(result.exit_code)


@click.command("rank")
@click.argument("email")
@date_option
@click.option("--top", default=20, show_default=True, type=click.IntRange(min=1))
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def rank_cmd(email: str, day: date | None, top: int, as_json: bool) -> None:
    """Show how EMAIL's profile ranks a day's listing, and why, ignoring what was sent."""
    result, ranked, hot = guarded(inspect.rank_for, settings(), email, day, reporter=for_terminal())
    ranked = ranked[:top]
    if as_json:
        records = as_records(ranked) + as_records(hot, len(ranked) + 1, "trending")
        click.echo(json.dumps(records, indent=2, ensure_ascii=False))
        sys.exit(result.exit_code)
    if not ranked:
        click.echo(f"{email}: no paper listed {span(result.days)} matches the profile")
    else:
        show_table(email, ranked)
    if hot:
        show_table(email, hot, f"{email}: trending, the most upvoted others")
    sys.exit(result.exit_code)


def as_records(
    ranked: list[Ranked], first: int = 1, section: str = "picks"
) -> list[dict[str, Any]]:
    """`digest rank --json`: each paper with every point of its score, and the section a
    digest would carry it in ("picks", or "trending" after them)."""
    return [
        {
            "rank": i,
            "section": section,
            "key": r.paper.key,
            "id": r.paper.source_id,
            "title": r.paper.title,
            "url": r.paper.url,
            "score": r.score,
            "upvotes": r.paper.upvotes,
            "by_followed_author": r.by_followed_author,
            "matches": [
                {
                    "keyword": m.term,
                    "field": m.field,
                    "count": m.count,
                    "via": list(m.via),
                    "rarity": m.rarity,
                    "points": m.points,
                }
                for m in r.matches
            ],
        }
        for i, r in enumerate(ranked, start=first)
    ]


def show_table(email: str, ranked: list[Ranked], title: str | None = None) -> None:
    from rich.table import Table
    from rich.text import Text

    table = Table(title=Text(title or f"{email}: {len(ranked)} matching papers"))
    table.add_column("#", justify="right")
    table.add_column("upvotes" if title else "score", justify="right")
    table.add_column("title", overflow="fold")
    table.add_column("why", overflow="fold")
    for i, r in enumerate(ranked, start=1):
        why = ", ".join(
            f"{m.term} ({m.field}{' x' + str(m.count) if m.count > 1 else ''}"
            f"{', as ' + ' / '.join(m.via) if m.via else ''})"
            for m in r.matches
        )
        figure = str(r.paper.upvotes or 0) if title else f"{r.score:.2f}"
        table.add_row(str(i), figure, Text(r.paper.title), Text(why))
    console().print(table)


@click.command("preview")
@click.argument("email")
@date_option
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where to write the HTML (an .eml is written beside it).",
)
def preview_cmd(email: str, day: date | None, out: Path | None) -> None:
    """Write the email EMAIL would get, as HTML and .eml, touching no state."""
    result, composed = guarded(inspect.preview, settings(), email, day, reporter=for_terminal())
    if composed is None:
        click.echo(
            f"nothing new for {email} {span(result.days)}, so no file was written "
            f"(`digest rank {email}` ranks the listing, papers already sent included)"
        )
        sys.exit(result.exit_code)
    html = inspect.write_preview(composed, out)
    click.echo(f"{composed.subject}\nwrote {html} and {html.with_suffix('.eml')}")
    sys.exit(result.exit_code)
