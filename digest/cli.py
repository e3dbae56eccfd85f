"""`digest`: thin click commands over the pipeline. Exit 0 ok, 1 run failed, 2 usage/config."""

from __future__ import annotations

import contextlib
import json
import logging
import sys
import threading
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import click

from . import __version__, admin, pipeline
from .config import ConfigError, Settings, load_settings
from .deliver import FileTransport
from .lock import Busy
from .progress import LogLines, Plain, for_terminal
from .roster import NotAllowed
from .subscribers import entry_of, load_subscribers

T = TypeVar("T")


def _settings() -> Settings:
    return _guarded(load_settings)


def _guarded(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Call into the library; a ConfigError is bad usage (exit 2), a held lock means this run
    did nothing (exit 1): one line each, no traceback."""
    try:
        return fn(*args, **kwargs)
    except ConfigError as exc:
        _fail(str(exc), 2)
    except Busy as exc:
        _fail(str(exc), 1)


def _fail(message: str, code: int) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


def _day(_ctx: click.Context, _param: click.Parameter, value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date like 2025-11-06") from None


date_option = click.option(
    "--date",
    "day",
    callback=_day,
    metavar="YYYY-MM-DD",
    help="One listing day instead of the lookback window ending today.",
)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="paper-digest")
def main() -> None:
    """Mail each subscriber the new papers that match their keywords."""


@main.command("run")
@date_option
@click.option(
    "--dry-run", is_flag=True, help="Render and report, but send nothing and change no state."
)
def run_cmd(day: date | None, dry_run: bool) -> None:
    """Fetch, diff, rank, compose and deliver: the daily job."""
    settings = _settings()
    report = _guarded(pipeline.run, settings, day, dry_run=dry_run, reporter=for_terminal())
    if report.mailed == 0 and not report.source_failures:
        stale = "".join(f"; {name} looks stale: {why}" for name, why in report.stale)
        click.echo(f"nothing new for any of {report.subscribers} subscribers{stale}", err=True)
    if report.sent and settings.email_backend == "file":
        click.echo(
            f"emails written to {settings.outbox_dir.resolve()}/ (open the .html files)", err=True
        )
    click.echo(report.summary())
    sys.exit(report.exit_code)


@main.command("fetch")
@date_option
def fetch_cmd(day: date | None) -> None:
    """Fetch listings and store them; send nothing."""
    settings = _settings()
    report = _guarded(pipeline.fetch, settings, day, reporter=for_terminal())
    status = "ok" if report.ok else "FAILED"
    click.echo(
        f"fetch {status}: {report.fetched} papers ({report.new} new) "
        f"for {', '.join(map(str, report.days))}"
    )
    sys.exit(report.exit_code)


@main.command("rank")
@click.argument("email")
@date_option
@click.option("--top", default=20, show_default=True, type=click.IntRange(min=1))
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def rank_cmd(email: str, day: date | None, top: int, as_json: bool) -> None:
    """Show how EMAIL's profile ranks a day's listing, and why, ignoring what was sent."""
    settings = _settings()
    report, ranked = _guarded(pipeline.ranking, settings, email, day, reporter=for_terminal())
    ranked = ranked[:top]
    if as_json:
        click.echo(
            json.dumps(
                [
                    {
                        "rank": i,
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
                    for i, r in enumerate(ranked, start=1)
                ],
                indent=2,
                ensure_ascii=False,
            )
        )
    else:
        from rich.console import Console
        from rich.table import Table
        from rich.text import Text

        table = Table(title=Text(f"{email}: {len(ranked)} matching papers"))
        table.add_column("#", justify="right")
        table.add_column("score", justify="right")
        table.add_column("title", overflow="fold")
        table.add_column("why", overflow="fold")
        for i, r in enumerate(ranked, start=1):
            why = ", ".join(
                f"{m.term} ({m.field}{' x' + str(m.count) if m.count > 1 else ''}"
                f"{', as ' + ' / '.join(m.via) if m.via else ''})"
                for m in r.matches
            )
            table.add_row(str(i), f"{r.score:.2f}", Text(r.paper.title), Text(why))
        Console().print(table)
    sys.exit(report.exit_code)


@main.command("preview")
@click.argument("email")
@date_option
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where to write the HTML (an .eml is written beside it).",
)
def preview_cmd(email: str, day: date | None, out: Path | None) -> None:
    """Write the email EMAIL would get, as HTML and .eml, touching no state."""
    settings = _settings()
    report, composed = _guarded(pipeline.preview, settings, email, day, reporter=for_terminal())
    if composed is None:
        click.echo(f"nothing new for {email} {pipeline._span(report.days)}")
        sys.exit(report.exit_code)
    if out is None:
        d = composed.digest
        eml, _ = FileTransport(Path("previews")).paths(d.subscriber.email, d.day, d.message_id)
        out = eml.with_suffix(".html")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(composed.html, encoding="utf-8")
    out.with_suffix(".eml").write_bytes(composed.raw)
    click.echo(f"{composed.subject}\nwrote {out} and {out.with_suffix('.eml')}")
    sys.exit(report.exit_code)


@main.command("status")
@click.option("--runs", "n_runs", default=10, show_default=True, type=click.IntRange(min=1))
def status_cmd(n_runs: int) -> None:
    """Show the last runs, pending and failed messages, and suppressed addresses."""
    from rich import box
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    st = _guarded(pipeline.status, _settings(), runs=n_runs)
    console = Console()

    def when(value: Any) -> str:
        return f"{value:%m-%d %H:%M}" if value else "-"

    def num(value: int | None) -> str:
        return "-" if value is None else str(value)

    runs = Table(
        title="last runs (started in UTC)",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        collapse_padding=True,
    )
    for col in ("run", "started", "status", "window", "papers", "new", "mailed", "sent", "failed"):
        left = col in ("started", "status", "window")
        width = {"started": 11, "window": 12}.get(col, len(col))
        runs.add_column(col, justify="left" if left else "right", min_width=width, no_wrap=True)
    for r in st.runs:
        window = (
            f"{r.window_start}"
            if r.window_end == r.window_start
            else f"{r.window_start:%m-%d}..{r.window_end:%m-%d}"
        )
        state = r.status
        if state == "running" and st.lock_holder is None:
            state = "died"  # nobody holds the lock: the next run marks it interrupted
        runs.add_row(
            str(r.id),
            when(r.started_at),
            Text(state, style="" if state in ("ok", "running") else "bold red"),
            window,
            *(num(v) for v in (r.fetched, r.new, r.mailed, r.sent, r.failed)),
        )
    console.print(runs if st.runs else "no runs yet")
    if st.lock_holder:
        console.print(Text(f"a run is in progress: {st.lock_holder}"))
    latest = st.runs[0] if st.runs else None
    if latest is not None and latest.detail:
        console.print(f"problems in run {latest.id}:")
        for line in latest.detail.splitlines():
            console.print(Text(f"  {line}"))

    sources = Table(title="sources", box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True)
    for col in ("source", "last papers", "checked", "feed built", "state"):
        sources.add_column(col, overflow="fold", no_wrap=col != "state")
    for state, why in st.sources:
        if state.checked_at is None and state.failed_at is None:
            health = Text("never fetched")
        elif why:
            health = Text(f"STALE: {why}", style="bold red")
        elif state.last_error and (state.checked_at is None or state.failed_at > state.checked_at):
            health = Text(f"failing: {state.last_error}", style="red")
        else:
            health = Text("ok")
        sources.add_row(
            state.name,
            str(state.last_listed or "-"),
            when(state.checked_at),
            when(state.built_at),
            health,
        )
    console.print(sources)

    for label, (total, rows) in (("pending", st.pending), ("failed", st.failed)):
        if not total:
            console.print(f"{label} messages: none")
            continue
        table = Table(title=f"{label} messages: {total} (latest {len(rows)})")
        for col in ("to", "day", "tries", "relay's last answer"):
            table.add_column(col, overflow="fold", justify="right" if col == "tries" else "left")
        for m in rows:
            table.add_row(
                Text(m.subscriber_email), str(m.day), str(m.attempts), Text(m.detail or "-")
            )
        console.print(table)

    if not st.suppressed:
        console.print("suppressed addresses: none")
    else:
        table = Table(title=f"suppressed addresses: {len(st.suppressed)}")
        for col in ("address", "since", "refusals", "last answer"):
            table.add_column(col, overflow="fold")
        for s in st.suppressed:
            table.add_row(
                Text(s.email), when(s.suppressed_at), str(s.failures), Text(s.last_answer or "")
            )
        console.print(table)
        console.print("re-enable one with: digest subscribers enable EMAIL")


@main.group("subscribers")
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
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    chosen = [m for m in _guarded(admin.members, _settings()) if status in ("all", m.state)]
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
    table = Table(title=f"{len(chosen)} subscriber(s)" + ("" if status == "all" else f", {status}"))
    table.box = box.SIMPLE_HEAD
    table.add_column("email", overflow="fold", min_width=20)
    table.add_column("state", no_wrap=True)
    table.add_column("digest", no_wrap=True)
    table.add_column("keywords", overflow="fold", min_width=20)
    table.add_column("from", overflow="ellipsis", no_wrap=True, max_width=12)
    for m in chosen:
        sub = m.subscriber
        table.add_row(
            Text(sub.email),
            m.state,
            sub.frequency,
            Text(", ".join(k.term for k in sub.keywords)),
            Text(Path(m.origin.removeprefix("file:")).name),
        )
    Console().print(table)


@subscribers_cmd.command("add")
@click.argument("email")
@click.option("-k", "--keyword", "keywords", multiple=True, required=True, help="Repeatable.")
@click.option("--name")
@click.option("--exclude", multiple=True, help="A term that vetoes a paper. Repeatable.")
@click.option("--author", "authors", multiple=True, help="An author to follow. Repeatable.")
@click.option("--max-papers", type=int)
@click.option("--weekly", is_flag=True, help="One digest a week instead of every day.")
@click.option(
    "--category",
    "categories",
    multiple=True,
    help="Keep the digest to this arXiv category (cs.RO) or archive (cs). Repeatable.",
)
def add_cmd(
    email: str,
    keywords: tuple[str, ...],
    name: str | None,
    exclude: tuple[str, ...],
    authors: tuple[str, ...],
    max_papers: int | None,
    weekly: bool,
    categories: tuple[str, ...],
) -> None:
    """Subscribe EMAIL (active at once), or update its profile."""
    entry: dict[str, Any] = {"email": email, "keywords": list(keywords)}
    for key, value in (
        ("name", name),
        ("exclude", list(exclude)),
        ("authors", list(authors)),
        ("max_papers", max_papers),
        ("frequency", "weekly" if weekly else None),
        ("categories", list(categories)),
    ):
        if value:
            entry[key] = value
    try:
        what = _guarded(admin.add, _settings(), entry)
    except NotAllowed as exc:
        _fail(str(exc), 1)
    click.echo(f"{email.strip().lower()}: {what}")


@subscribers_cmd.command("remove")
@click.argument("email")
def remove_cmd(email: str) -> None:
    """Delete EMAIL and cancel its pending mail (what it was sent stays in the ledger)."""
    settings = _settings()
    if not _guarded(admin.remove, settings, email):
        _fail(f"{email}: no such subscriber", 1)
    click.echo(f"{email}: removed")
    path = settings.subscribers_path
    with contextlib.suppress(ConfigError):
        if path.exists() and any(s.email == email.strip().lower() for s in load_subscribers(path)):
            click.echo(
                f"note: {path} still lists {email}; delete the entry there too, or the next "
                "change to that file brings it back",
                err=True,
            )


@subscribers_cmd.command("import")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
def import_cmd(file: Path) -> None:
    """Import a subscriber file now (the rules are in the README, "Subscribers")."""
    result = _guarded(admin.import_file, _settings(), file)
    click.echo(f"imported {file}: {result.summary()}")


@subscribers_cmd.command("export")
@click.option("--all", "everyone", is_flag=True, help="Also pending and unsubscribed ones.")
def export_cmd(everyone: bool) -> None:
    """Write subscribers as a subscriber file (TOML) to stdout."""
    click.echo(_guarded(admin.export, _settings(), everyone=everyone), nl=False)


@subscribers_cmd.command("enable")
@click.argument("email")
def enable_cmd(email: str) -> None:
    """Re-enable EMAIL after it was suppressed for repeated permanent refusals."""
    if _guarded(pipeline.enable, _settings(), email):
        click.echo(f"{email}: re-enabled; the next run mails it again")
    else:
        click.echo(f"{email}: was not suppressed; nothing to do")


@main.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535))
def serve_cmd(host: str, port: int) -> None:
    """Serve the subscribe, preferences and unsubscribe pages."""
    import uvicorn

    from .web import build_app

    settings = _settings()
    base = settings.base_url or f"http://{host}:{port}"
    app = _guarded(build_app, settings, base)
    log = for_terminal()
    if not settings.base_url:
        log.warn(
            f"DIGEST_BASE_URL is not set: links point at {base}, and digests from "
            "`digest run` carry no preferences or one-click unsubscribe link"
        )
    log.info(f"serving {base}/ (listening on {host}:{port}; Ctrl-C stops)")
    web_log = logging.getLogger("digest.web")
    web_log.setLevel(logging.INFO)
    web_log.addHandler(LogLines(Plain()))
    # access_log off: every path of interest holds a signed token, and logs are not secret
    uvicorn.run(app, host=host, port=port, access_log=False, log_level="warning")


@main.command("daemon")
def daemon_cmd() -> None:
    """Run the daily job on DIGEST_SCHEDULE until SIGTERM or SIGINT."""
    from .schedule import daemon

    settings = _settings()
    log = Plain()

    def job(stop: threading.Event) -> pipeline.RunReport:
        return pipeline.run(settings, reporter=log, stop=stop)

    daemon(settings, job, log)
