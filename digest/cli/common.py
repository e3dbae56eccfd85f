"""What every command shares: settings loaded once, library errors and usage errors turned
into one line and an exit code (0 ok, 1 the run failed, 2 bad usage, settings or subscriber
file), and --date."""

from __future__ import annotations

import errno
import os
import sys
from collections.abc import Callable
from datetime import date
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import click
from sqlalchemy.exc import OperationalError

from ..domain.text import printable
from ..errors import Busy, ConfigError, NotAllowed, Unavailable
from ..settings import Settings, load_settings
from ..store.engine import refusal

if TYPE_CHECKING:
    from rich.console import Console

T = TypeVar("T")
_DISK = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EIO}  # the disk refused a write
FIRST_DAY, LAST_DAY = date(1991, 8, 14), date(2999, 12, 31)  # from arXiv's first paper on


def settings() -> Settings:
    return guarded(load_settings)


def guarded(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Call into the library; a ConfigError is bad usage (exit 2), a held lock or a refused
    request means nothing was done (exit 1): one line each, no traceback. So is a database
    that refuses to write (read-only, full, locked by another program) or a disk that does:
    what was not committed was not done, and the next run does it (exit 1)."""
    try:
        return fn(*args, **kwargs)
    except ConfigError as exc:
        fail(str(exc), 2)
    except (Busy, NotAllowed) as exc:
        fail(str(exc), 1)
    except (OperationalError, Unavailable) as exc:  # read-only, full, locked: a state
        fail(f"the database refused: {refusal(exc)}; nothing it did not commit was done", 1)
    except OSError as exc:
        if exc.errno not in _DISK:
            raise
        where = f" ({exc.filename})" if exc.filename else ""
        fail(f"{exc.strerror or exc}{where}; nothing unfinished was marked done", 1)


UNBOUNDED = 10_000  # columns: wider than any table's content


def console() -> Console:
    """Where tables go: stdout, as wide as the terminal. Piped or redirected, a table is as
    wide as its content (COLUMNS, when set, still rules), so nothing is folded or cut for
    a width no one is looking at."""
    from rich.console import Console

    piped = not sys.stdout.isatty() and not os.environ.get("COLUMNS")
    return Console(width=UNBOUNDED if piped else None)


def fail(message: str, code: int) -> NoReturn:
    click.echo(f"error: {printable(message)}", err=True)
    sys.exit(code)


class OneLine(click.Group):
    """The root command: a usage error (an unknown option or command, a missing argument, a
    bad value) is one line like every other error, exit 2, instead of click's usage, hint and
    error lines: error: no such option '--frobnicate' (see `digest run --help`)."""

    def make_context(
        self,
        info_name: str | None,
        args: list[str],
        parent: click.Context | None = None,
        **extra: Any,
    ) -> click.Context:
        try:
            return super().make_context(info_name, args, parent, **extra)
        except click.UsageError as exc:
            raise _usage(exc) from None

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except click.UsageError as exc:  # a subcommand's, or an unknown subcommand
            raise _usage(exc) from None


_HELP = getattr(click.exceptions, "NoArgsIsHelpError", ())  # click 8.2 and later


class _UsageLine(click.ClickException):
    exit_code = 2

    def show(self, file: Any = None) -> None:
        click.echo(f"error: {printable(self.message)}", err=True)


def _usage(exc: click.UsageError) -> click.ClickException:
    if isinstance(exc, _HELP):  # `digest subscribers` alone: its help, as click shows it
        return exc
    message = exc.format_message().strip().removesuffix(".")
    if message[1:2].islower():  # "No such option" but "EMAIL"
        message = message[0].lower() + message[1:]
    if exc.ctx is not None:
        message += f" (see `{exc.ctx.command_path} --help`)"
    return _UsageLine(message)


def _day(_ctx: click.Context, _param: click.Parameter, value: str | None) -> date | None:
    if value is None:
        return None
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date like 2025-11-06") from None
    if not FIRST_DAY <= day <= LAST_DAY:  # a window or a week around it must stay a date
        raise click.BadParameter(f"{value} is not a listing day ({FIRST_DAY} to {LAST_DAY})")
    return day


date_option = click.option(
    "--date",
    "day",
    callback=_day,
    metavar="YYYY-MM-DD",
    help="One listing day instead of the lookback window ending today.",
)
