"""A helper process of a run (`jobs.workers`): `python -m digest.jobs.helper`, started by the
run, never by hand. It does its part as the run does its own (`jobs.mailing`) and reports
over stdout; it ends early when told to stop, when the run goes away, or on SIGTERM."""

from __future__ import annotations

import json
import os
import pickle
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO, Any

from ..progress import Advance
from .decide import Decider
from .fill import Filler
from .mailing import mail
from .result import RunResult, timed
from .send import working
from .wiring import composer_for, opened
from .workers import Assignment, counts_of

FLUSH_EVERY = 0.2  # seconds between progress reports


class Out:
    """JSON lines to the run, one writer at a time. When the run is gone (the pipe broke),
    nothing more is written and `gone` is set: the helper stops."""

    def __init__(self, stream: IO[str], gone: threading.Event) -> None:
        self.stream = stream
        self.gone = gone
        self.lock = threading.Lock()

    def send(self, event: dict[str, Any]) -> None:
        with self.lock:
            if self.gone.is_set() and "counts" not in event:
                return
            try:
                self.stream.write(json.dumps(event) + "\n")
                self.stream.flush()
            except (OSError, ValueError):
                self.gone.set()


class Relayed:
    """A Reporter whose lines and progress go to the run, which shows them as its own."""

    def __init__(self, out: Out) -> None:
        self.out = out
        self.answered = 0
        self.dropped = 0
        self.lock = threading.Lock()

    def info(self, message: str) -> None:
        self.out.send({"say": "info", "text": message})

    def warn(self, message: str) -> None:
        self.out.send({"say": "warn", "text": message})

    def error(self, message: str) -> None:
        self.out.send({"say": "error", "text": message})

    def advance(self, done: bool = True) -> None:
        with self.lock:
            if done:
                self.answered += 1
            else:
                self.dropped += 1

    def flush(self) -> None:
        with self.lock:
            count, self.answered = self.answered, 0
            dropped, self.dropped = self.dropped, 0
        if count or dropped:
            self.out.send({"advance": count, "dropped": dropped})

    @contextmanager
    def steps(self, description: str, total: int) -> Iterator[Advance]:
        """The run shows the one progress bar; this adds to it."""
        yield self.advance


def listen(stream: IO[bytes], everything: threading.Event, stop: threading.Event) -> None:
    """The run's words; its end (the pipe closed) is a stop."""
    for line in stream:
        word = line.strip()
        if word == b"filled":
            everything.set()
        elif word == b"stop":
            stop.set()
    stop.set()
    everything.set()


def work(
    job: Assignment, result: RunResult, say: Relayed, everything: threading.Event, stop: Any
) -> None:
    settings = job.settings
    with opened(settings) as db, working(db, settings, vacuum=False) as worker:
        with db.reading() as conn, timed(result.timings, "rank", cpu=True):
            decider = Decider.of(conn, job.days, bool(job.who.weekly), settings.mail.domain)
            if settings.semantic:  # the run stored every vector before its helpers started
                decider.understand(conn, compute=False)
        filler = Filler(db, composer_for(settings), result, say, stop)
        mail(
            worker,
            filler,
            job.who,
            decider,
            job.run_id,
            job.part,
            say.advance,
            more=lambda: not everything.is_set(),
            filled=lambda: say.out.send({"filled": True}),
        )


def main() -> int:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the run passes Ctrl-C on as "stop"
    job: Assignment = pickle.load(sys.stdin.buffer)
    everything, stop = threading.Event(), threading.Event()
    out = Out(sys.stdout, stop)
    say = Relayed(out)
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    threading.Thread(target=listen, args=(sys.stdin.buffer, everything, stop), daemon=True).start()
    flushing = threading.Event()

    def flusher() -> None:
        while not flushing.wait(FLUSH_EVERY):
            say.flush()

    threading.Thread(target=flusher, daemon=True).start()
    result = RunResult(days=job.days)
    code = 0
    try:
        work(job, result, say, everything, stop)
    except Exception as exc:  # said once, by the run; the rest of its part waits
        say.error(f"worker {job.index + 1} stopped: {type(exc).__name__}: {exc}")
        result.worker_errors.append(f"worker {job.index + 1} stopped: {exc}")
        code = 1
    finally:
        flushing.set()
        say.flush()
        out.send({"counts": counts_of(result)})
    return code


if __name__ == "__main__":
    status = main()
    sys.stdout.flush()
    # Not sys.exit: the thread listening to the run is blocked reading stdin, and an
    # interpreter shutting down around it aborts ("could not acquire lock for <stdin>").
    os._exit(status)
