"""What a run did, as counts an operator reads in one line and the runs table keeps."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date

from ..deliver.sender import Delivery


@dataclass
class RunResult:
    days: list[date]
    dry_run: bool = False
    fetched: int = 0
    new: int = 0
    subscribers: int = 0
    suppressed: int = 0
    mailed: int = 0
    decided: int = 0  # subscribers whose digest was decided (mailed or not)
    earlier: int = 0  # pending messages from earlier runs that this run delivers too
    sent: int = 0
    failed: int = 0
    deferred: int = 0
    unrecorded: int = 0  # accepted by the relay, but recording that failed: sent again later
    source_failures: list[str] = field(default_factory=list)
    stale: list[tuple[str, str]] = field(default_factory=list)  # (source, why): a warning
    refusals: list[str] = field(default_factory=list)
    compose_errors: list[str] = field(default_factory=list)
    worker_errors: list[str] = field(default_factory=list)  # helper processes that failed
    delivery_error: str | None = None
    stopped: bool = False  # asked to stop (SIGTERM to the daemon) before the outbox was empty
    destination: str = ""
    seconds: float = 0.0
    # seconds per stage: fetch (wall time); rank, compose, store (processor time, summed over
    # batches); deliver (the wall time of the mailing, which overlaps them)
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def attempted(self) -> int:
        return self.sent + self.failed + self.deferred

    @property
    def ok(self) -> bool:
        relay_refused_all = self.attempted > 0 and self.sent == 0 and not self.dry_run
        return not (
            self.source_failures
            or self.delivery_error
            or self.compose_errors
            or self.worker_errors
            or self.unrecorded
            or relay_refused_all
        )

    @property
    def exit_code(self) -> int:
        return 0 if self.ok else 1

    @property
    def problems(self) -> list[str]:
        return [
            *self.source_failures,
            *self.compose_errors,
            *self.worker_errors,
            *self.refusals,
            *([self.delivery_error] if self.delivery_error else []),
            *self._some(
                self.unrecorded,
                "{} message(s) the relay accepted could not be recorded as sent: the next run "
                "sends them again under the same Message-ID",
            ),
        ]

    def delivered(self, delivery: Delivery) -> None:
        """Count what the relay answered (`deliver.sender`) into this run."""
        self.sent += delivery.sent
        self.failed += delivery.failed
        self.deferred += delivery.deferred
        self.refusals += delivery.refusals
        self.unrecorded += delivery.unrecorded
        self.delivery_error = delivery.error or self.delivery_error
        self.stopped = self.stopped or delivery.stopped

    def timing(self) -> str:
        """Where the time went, for an operator sizing a relay or a schedule: prepare and
        deliver are wall time (delivery overlaps composing); rank, compose and store are the
        composing thread's processor time."""
        stages = ", ".join(
            f"{name} {self.timings[name]:.2f}s"
            for name in ("prepare", "rank", "compose", "store", "deliver")
            if name in self.timings
        )
        return f"timings: {stages}"

    @staticmethod
    def _some(count: int, text: str) -> list[str]:
        return [text.format(count)] if count else []

    def summary(self) -> str:
        span = str(self.days[0]) if len(self.days) == 1 else f"{self.days[0]}..{self.days[-1]}"
        head = "dry run" if self.dry_run else "run"
        sending = (
            [f"{self.mailed} messages rendered, none sent"]
            if self.dry_run
            else [f"{self.sent} sent, {self.failed} failed"]
        )
        parts = [
            f"fetched {self.fetched} papers ({self.new} new)",
            f"{self.mailed} of {self.subscribers} subscribers had new papers",
            *self._some(self.suppressed, "{} suppressed"),
            *self._some(self.earlier, "{} pending from earlier runs"),
            *sending,
            *self._some(0 if self.dry_run else self.deferred, "{} left pending for the next run"),
            *self._some(len(self.source_failures), "{} source(s) failed"),
            *([f"stale: {', '.join(name for name, _ in self.stale)}"] if self.stale else []),
            *self._some(len(self.compose_errors), "{} digest(s) could not be composed"),
            *self._some(len(self.worker_errors), "{} worker(s) failed"),
            *self._some(self.unrecorded, "{} sent but not recorded"),
            *(["delivery stopped"] if self.delivery_error else []),
            *(["stopped on request"] if self.stopped else []),
        ]
        tail = f" -> {self.destination}" if self.sent and self.destination else ""
        status = "ok" if self.ok else "FAILED"
        return f"{head} {span} {status}: " + "; ".join(parts) + tail


@contextmanager
def timed(clock: dict[str, float], stage: str, cpu: bool = False) -> Iterator[None]:
    """Add the stage's seconds to `clock`: wall time, or with `cpu` this thread's processor
    time (what composing costs, not what the sending threads took meanwhile)."""
    now = time.thread_time if cpu else time.perf_counter
    started = now()
    try:
        yield
    finally:
        clock[stage] = clock.get(stage, 0.0) + now() - started
