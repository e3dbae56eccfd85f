"""How a long step reports itself: a rich progress bar on a terminal, plain lines elsewhere."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime
from typing import IO, Protocol

from rich.markup import escape

Advance = Callable[[], None]


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
        yield lambda: None


class Plain:
    """One line per event on stderr, `<UTC time> <level>: <message>`: what cron mails and what
    logs keep, easy to grep by level or address."""

    def __init__(self, stream: IO[str] | None = None) -> None:
        self.stream = stream or sys.stderr

    def _line(self, level: str, message: str) -> None:
        stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        print(f"{stamp} {level}: {message}", file=self.stream, flush=True)

    def info(self, message: str) -> None:
        self._line("info", message)

    def warn(self, message: str) -> None:
        self._line("warning", message)

    def error(self, message: str) -> None:
        self._line("error", message)

    @contextmanager
    def steps(self, description: str, total: int) -> Iterator[Advance]:
        done = 0

        def advance() -> None:
            nonlocal done
            done += 1

        yield advance
        if total:
            self.info(f"{description}: {done}/{total}")


class Fancy(Plain):
    """A transient rich progress bar per step, for a person at a terminal."""

    def __init__(self) -> None:
        from rich.console import Console

        super().__init__(sys.stderr)
        self.console = Console(stderr=True)

    def info(self, message: str) -> None:
        self.console.print(message, markup=False, highlight=False)

    def warn(self, message: str) -> None:
        self.console.print("[yellow]warning:[/yellow]", escape(message), highlight=False)

    def error(self, message: str) -> None:
        self.console.print("[bold red]error:[/bold red]", escape(message), highlight=False)

    @contextmanager
    def steps(self, description: str, total: int) -> Iterator[Advance]:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            console=self.console,
            transient=True,
        ) as bar:
            task = bar.add_task(description, total=total)
            done = 0

            def advance() -> None:
                nonlocal done
                done += 1
                bar.advance(task)

            yield advance
        if total:
            self.info(f"{description}: {done}/{total}")


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
