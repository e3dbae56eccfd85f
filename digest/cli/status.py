"""`digest status`: the typed rows of `jobs.status` as tables an operator reads."""

from __future__ import annotations

from datetime import datetime

import click
from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from ..domain.records import Suppression
from ..jobs.status import Messages, RunRow, SourceRow, Status, status
from .common import console, guarded, settings


def _when(value: datetime | None) -> str:
    return f"{value:%m-%d %H:%M}" if value else "-"


def _num(value: int | None) -> str:
    return "-" if value is None else str(value)


def _compact(title: str) -> Table:
    return Table(title=title, box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True)


def runs_table(rows: list[RunRow]) -> Table:
    table = _compact("last runs (started in UTC)")
    for col in ("run", "started", "status", "window", "papers", "new", "mailed", "sent", "failed"):
        left = col in ("started", "status", "window")
        # No minimum width and nothing unwrappable: a narrow terminal folds cells (a count's
        # header first) rather than cutting the columns on the right (failed) off the table
        # or squeezing one out of it.
        table.add_column(col, justify="left" if left else "right", overflow="fold")
    for row in rows:
        r = row.record
        window = (
            f"{r.window_start}"
            if r.window_end == r.window_start
            else f"{r.window_start:%m-%d}..{r.window_end:%m-%d}"
        )
        table.add_row(
            str(r.id),
            _when(r.started_at),
            Text(row.state, style="" if row.healthy else "bold red"),
            window,
            *(_num(v) for v in (r.fetched, r.new, r.mailed, r.sent, r.failed)),
        )
    return table


def sources_table(rows: list[SourceRow]) -> Table:
    table = _compact("sources")
    for col in ("source", "last papers", "checked", "feed built", "state"):
        table.add_column(col, overflow="fold")
    for row in rows:
        s = row.state
        style = "" if row.healthy or row.health == "never fetched" else "red"
        if row.health.startswith("STALE"):
            style = "bold red"
        table.add_row(
            s.name,
            str(s.last_listed or "-"),
            _when(s.checked_at),
            _when(s.built_at),
            Text(row.health, style=style),
        )
    return table


def messages_table(label: str, messages: Messages) -> Table | str:
    if not messages.total:
        return f"{label} messages: none"
    table = Table(title=f"{label} messages: {messages.total} (latest {len(messages.latest)})")
    for col in ("to", "day", "tries", "relay's last answer"):
        table.add_column(col, overflow="fold", justify="right" if col == "tries" else "left")
    for m in messages.latest:
        table.add_row(Text(m.recipient), str(m.day), str(m.attempts), Text(m.detail or "-"))
    return table


def suppressed_table(rows: list[Suppression]) -> Table:
    table = Table(title=f"suppressed addresses: {len(rows)}")
    for col in ("address", "since", "refusals", "last answer"):
        table.add_column(col, overflow="fold")
    for s in rows:
        table.add_row(
            Text(s.email), _when(s.suppressed_at), str(s.failures), Text(s.last_answer or "")
        )
    return table


def show(st: Status, console: Console) -> None:
    for line in st.warnings:
        console.print(Text(f"warning: {line}"))
    console.print(runs_table(st.runs) if st.runs else "no runs yet")
    if st.running:
        console.print(Text(f"a run is in progress: {st.running}"))
    if st.problems:
        console.print(f"problems in run {st.runs[0].record.id}:")
        for line in st.problems:
            console.print(Text(f"  {line}"))
    console.print(sources_table(st.sources))
    console.print(messages_table("pending", st.pending))
    console.print(messages_table("failed", st.failed))
    if not st.suppressed:
        console.print("suppressed addresses: none")
    else:
        console.print(suppressed_table(st.suppressed))
        console.print("re-enable one with: digest subscribers enable EMAIL")


@click.command("status")
@click.option("--runs", "n_runs", default=10, show_default=True, type=click.IntRange(min=1))
def status_cmd(n_runs: int) -> None:
    """Show the last runs, pending and failed messages, and suppressed addresses."""
    show(guarded(status, settings(), runs=n_runs), console())
