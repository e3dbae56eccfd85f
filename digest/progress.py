"""How a long step reports itself: a rich progress bar on a terminal, plain lines elsewhere."""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime, timedelta
from typing import IO, Protocol

from rich.markup import escape

from .domain.text import printable


class Advance(Protocol):
    """Moves a step's count: `advance()` when one step is done; `advance(False)` when one of
    the steps the total counted will not come after all (a subscriber with nothing new to
    mail), so the total shrinks and the count stays what was really done."""

    def __call__(self, done: bool = True) -> None: ...


def ignore(done: bool = True) -> None:
    """An Advance that counts nothing."""


class Reporter(Protocol):
    def info(self, message: str) -> None: ...
    def warn(self, message: str) -> None: ...
    def error(self, message: str) -> None: ...
    def steps(self, description: str, total: int) -> AbstractContextManager[Advance]: ...


class Silent:
    def info(self, message: str) -> None:
        pass

    def warn(self, message: str) -> None:
        pass

    def error(self, message: str) -> None:
        pass

    @contextmanager
    def steps(self, description: str, total: int) -> Iterator[Advance]:
        yield ignore


class Plain:
    """One line per event on stderr, `<UTC time> <level>: <message>`: what cron mails and what
    logs keep, easy to grep by level or address. A long step says how far it got every
    `every` seconds."""

    def __init__(self, stream: IO[str] | None = None, every: float = 10.0) -> None:
        self.stream = stream or sys.stderr
        self.every = every

    def _line(self, level: str, message: str) -> None:
        stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        print(f"{stamp} {level}: {printable(message)}", file=self.stream, flush=True)

    def info(self, message: str) -> None:
        self._line("info", message)

    def warn(self, message: str) -> None:
        self._line("warning", message)

    def error(self, message: str) -> None:
        self._line("error", message)

    @contextmanager
    def steps(self, description: str, total: int) -> Iterator[Advance]:
        count = Count(total)

        def advance(done: bool = True) -> None:
            if not done:
                count.drop()
            elif count.step(self.every):
                self.info(f"{description}: {count.line()}")

        yield advance
        self.finished(description, count)

    def finished(self, description: str, count: Count) -> None:
        """The step's last line, unless nothing was left to do (every subscriber had nothing
        new: "mailing: 0/0" would say nothing)."""
        if count.total:
            self.info(f"{description}: {count.done}/{count.total} in {count.elapsed():.1f}s")


class Count:
    """Steps done of a total, from any thread, with the rate and what is left."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.done = 0
        self.started = self.said = time.monotonic()
        self.lock = threading.Lock()

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def drop(self) -> None:
        """One step of the total will not come."""
        with self.lock:
            self.total = max(self.total - 1, self.done)

    def step(self, every: float) -> bool:
        """Count one; True when `every` seconds passed since the last True."""
        with self.lock:
            self.done += 1
            now = time.monotonic()
            if now - self.said < every or self.done >= self.total:
                return False
            self.said = now
            return True

    def line(self) -> str:
        rate = self.done / max(self.elapsed(), 1e-9)
        left = (self.total - self.done) / rate if rate else 0.0
        share = self.done / self.total if self.total else 1.0
        return (
            f"{self.done:,}/{self.total:,} ({share:.0%}), {rate:,.0f}/s, "
            f"about {timedelta(seconds=round(left))} left"
        )


class Fancy(Plain):
    """A transient rich progress bar per step, for a person at a terminal."""

    def __init__(self) -> None:
        from rich.console import Console

        super().__init__(sys.stderr)
        self.console = Console(stderr=True)

    def info(self, message: str) -> None:
        self.console.print(printable(message), markup=False, highlight=False)

    def warn(self, message: str) -> None:
        self.console.print("[yellow]warning:[/yellow]", escape(printable(message)), highlight=False)

    def error(self, message: str) -> None:
        line = escape(printable(message))
        self.console.print("[bold red]error:[/bold red]", line, highlight=False)

    @contextmanager
    def steps(self, description: str, total: int) -> Iterator[Advance]:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]}"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=self.console,
            transient=True,
        ) as bar:
            task = bar.add_task(description, total=total, rate="")
            count = Count(total)

            def advance(done: bool = True) -> None:
                if not done:
                    count.drop()
                    bar.update(task, total=count.total)
                    return
                count.step(float("inf"))
                rate = count.done / max(count.elapsed(), 1e-9)
                bar.update(task, advance=1, rate=f"{rate:,.0f}/s")

            yield advance
        self.finished(description, count)


def for_terminal() -> Plain:
    return Fancy() if sys.stderr.isatty() else Plain()


class LogLines(logging.Handler):
    """Library log records (the web app's, the scheduler's) as the same one-line events."""

    def __init__(self, reporter: Plain) -> None:
        super().__init__()
        self.reporter = reporter

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if record.levelno >= logging.ERROR:
            self.reporter.error(message)
        elif record.levelno >= logging.WARNING:
            self.reporter.warn(message)
        else:
            self.reporter.info(message)
