"""What every command shares: settings loaded once, library errors turned into one line and an
exit code (0 ok, 1 the run failed, 2 bad usage, settings or subscriber file), and --date."""

from __future__ import annotations

import errno
import sys
from collections.abc import Callable
from datetime import date
from typing import Any, NoReturn, TypeVar

import click
from sqlalchemy.exc import OperationalError

from ..domain.text import printable
from ..errors import Busy, ConfigError, NotAllowed, Unavailable
from ..settings import Settings, load_settings
from ..store.engine import refusal

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


def fail(message: str, code: int) -> NoReturn:
    click.echo(f"error: {printable(message)}", err=True)
    sys.exit(code)


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
