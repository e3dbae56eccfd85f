"""A run over several processes. The run that holds the run lock prepares, cuts the list into
parts by address, and starts one helper process (`jobs.helper`) for each part but its own.
Every process decides, composes and stores its part, and sends from the shared outbox over
its share of the relay's connections and rate, so the limits hold for the run as a whole.

A helper hears its assignment (pickled) on stdin, then one word per line: "filled" (every
part is stored: nothing more will come) or "stop". It speaks JSON lines on stdout: what it
reports, how many messages it answered for, that its part is stored, and at the end its
counts."""

from __future__ import annotations

import contextlib
import json
import os
import pickle
import subprocess
import sys
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import date
from typing import IO, Any

from sqlalchemy.engine import make_url

from ..progress import Advance, Reporter
from ..settings import Settings
from .plan import Part, Plan
from .result import RunResult

MAX_AUTO = 8  # processes at most when DIGEST_WORKERS is not set
PER_WORKER = 2000  # subscribers a process is worth starting for (one costs ~1 s to start)


def worker_count(settings: Settings, receiving: int) -> int:
    """How many processes a run of `receiving` subscribers uses: DIGEST_WORKERS (or
    --workers), else one per PER_WORKER subscribers up to the cores this process may use
    and MAX_AUTO; never more than there are subscribers."""
    url = make_url(settings.database.url)
    if url.get_backend_name() == "sqlite" and (
        url.database in (None, "", ":memory:") or "mode=memory" in str(url)
    ):
        return 1  # a database in memory is this process's alone
    if settings.workers is not None:
        return max(1, min(settings.workers, receiving))
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, min(cores or 1, MAX_AUTO, receiving // PER_WORKER))


def share(total: int, count: int, index: int) -> int:
    """Process `index`'s share of `total` when `count` processes split it as evenly as whole
    numbers allow (the first ones get one more)."""
    return total // count + (1 if index < total % count else 0)


def shared(settings: Settings, count: int, index: int) -> Settings:
    """The settings process `index` of `count` runs with: how many of the relay's connection
    slots it may hold (`store.slots`; each slot carries its part of the rate limit). With
    fewer slots, or fewer whole messages a second, than processes, the processes beyond get
    none and only compose."""
    smtp = settings.mail.smtp
    rate = smtp.rate_limit
    per_second = max(1, int(rate)) if rate else smtp.max_connections
    senders = min(count, smtp.max_connections, per_second)
    mine = share(smtp.max_connections, senders, index) if index < senders else 0
    mail = replace(settings.mail, smtp=replace(smtp, share=mine))
    return replace(settings, mail=mail, workers=1)


@dataclass(frozen=True)
class Assignment:
    """What a helper process is told: everything it needs to do its part of a run."""

    settings: Settings  # its share of the relay
    days: list[date]
    who: Plan
    part: Part
    run_id: int
    index: int


# The counts a helper reports at its end, added into the run's.
COUNTS = ("mailed", "decided", "sent", "failed", "deferred", "unrecorded")
LISTS = ("refusals", "compose_errors", "worker_errors")


def counts_of(result: RunResult) -> dict[str, Any]:
    out: dict[str, Any] = {name: getattr(result, name) for name in (*COUNTS, *LISTS)}
    out["delivery_error"] = result.delivery_error
    out["stopped"] = result.stopped
    out["timings"] = {k: v for k, v in result.timings.items() if k in ("rank", "compose", "store")}
    return out


def add_counts(result: RunResult, counts: dict[str, Any]) -> None:
    for name in COUNTS:
        setattr(result, name, getattr(result, name) + int(counts.get(name, 0)))
    for name in LISTS:
        getattr(result, name).extend(str(x) for x in counts.get(name, []))
    result.delivery_error = result.delivery_error or counts.get("delivery_error")
    result.stopped = result.stopped or bool(counts.get("stopped"))
    for stage, seconds in counts.get("timings", {}).items():
        result.timings[stage] = result.timings.get(stage, 0.0) + float(seconds)


class Helper:
    """One helper process, as the run sees it."""

    def __init__(self, assignment: Assignment, reporter: Reporter, advance: Advance) -> None:
        self.index = assignment.index
        self.reporter = reporter
        self.advance = advance
        self.filled = threading.Event()
        self.counts: dict[str, Any] | None = None
        self.ended = False  # its counts are in the run's
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "digest.jobs.helper"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(pickle.dumps(assignment))
        self.proc.stdin.flush()
        self.lock = threading.Lock()
        self.reader = threading.Thread(
            target=self._read, args=(self.proc.stdout,), name=f"helper-{self.index}", daemon=True
        )
        self.reader.start()

    def _read(self, stream: IO[bytes]) -> None:
        """Every line the helper writes, read to its end whatever a line holds, so the
        helper never blocks on a full pipe."""
        for line in stream:
            try:
                event = json.loads(line)
                if isinstance(event, dict):
                    self._event(event)
            except Exception:  # a line it cannot use is skipped, never fatal
                continue
        self.filled.set()  # it ended: nothing more will come from it

    def _event(self, event: dict[str, Any]) -> None:
        if "advance" in event or "dropped" in event:
            for _ in range(int(event.get("advance", 0))):
                self.advance()
            for _ in range(int(event.get("dropped", 0))):
                self.advance(False)
        elif "say" in event:
            level, text = event["say"], str(event.get("text", ""))
            {"info": self.reporter.info, "warn": self.reporter.warn}.get(
                level, self.reporter.error
            )(text)
        elif "filled" in event:
            self.filled.set()
        elif "counts" in event and isinstance(event["counts"], dict):
            self.counts = event["counts"]

    def alive(self) -> bool:
        return self.proc.poll() is None

    def tell(self, word: str) -> None:
        with self.lock, contextlib.suppress(OSError, ValueError):
            assert self.proc.stdin is not None
            self.proc.stdin.write(word.encode() + b"\n")
            self.proc.stdin.flush()

    def end(self, timeout: float | None = None) -> str | None:
        """Wait for it to exit: None when it reported its counts, else what went wrong."""
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait()
        self.reader.join()
        with contextlib.suppress(OSError):
            assert self.proc.stdin is not None
            self.proc.stdin.close()
        if self.counts is None:
            return f"worker {self.index + 1} ended without finishing its part (exit code {code})"
        return None


class Helpers:
    """The helper processes of a run: started after it prepared, told when every part is
    stored, and their counts added into the run's when they end."""

    def __init__(self, helpers: Sequence[Helper]) -> None:
        self.helpers = list(helpers)

    @classmethod
    def start(
        cls,
        settings: Settings,
        days: list[date],
        who: Plan,
        parts: Sequence[Part],
        run_id: int,
        reporter: Reporter,
        advance: Advance,
    ) -> Helpers:
        """One helper for each of `parts` but the first (this process's own)."""
        count = len(parts)
        return cls(
            [
                Helper(
                    Assignment(shared(settings, count, i), days, who, parts[i], run_id, i),
                    reporter,
                    advance,
                )
                for i in range(1, count)
            ]
        )

    def __bool__(self) -> bool:
        return bool(self.helpers)

    def filling(self) -> bool:
        return not all(h.filled.is_set() for h in self.helpers)

    def wait_filled(self, stop: threading.Event | None) -> None:
        """Until every helper stored its part (or ended); told to stop, they are told too."""
        for h in self.helpers:
            while not h.filled.wait(0.2) and h.alive():
                if stop is not None and stop.is_set():
                    self.tell("stop")

    def tell(self, word: str) -> None:
        for h in self.helpers:
            h.tell(word)

    def end(self, result: RunResult, timeout: float | None = None) -> None:
        """Wait for the helpers to exit and add their counts into `result` (once)."""
        for h in self.helpers:
            if h.ended:
                continue
            problem = h.end(timeout)
            h.ended = True
            if h.counts is not None:
                add_counts(result, h.counts)
            if problem is not None:
                h.reporter.error(f"{problem}: its subscribers not reached get theirs next run")
                result.worker_errors.append(problem)


@contextlib.contextmanager
def watching(helpers: Helpers, stop: threading.Event | None) -> Iterator[None]:
    """Pass a stop request (the daemon's SIGTERM) on to the helpers while the block runs."""
    if not helpers or stop is None:
        yield
        return
    done = threading.Event()

    def watch() -> None:
        while not done.wait(0.2):
            if stop.is_set():
                helpers.tell("stop")
                return

    thread = threading.Thread(target=watch, name="helpers-stop", daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()
