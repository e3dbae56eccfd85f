"""`digest daemon`: the daily job on a cron schedule, with APScheduler.

One run at a time (max_instances=1, and the run lock against a cron line or a manual run),
missed runs coalesced into one and still started up to an hour late, a failed run logged
and the next one fired as usual. SIGTERM or SIGINT lets the message being sent finish, leaves
the rest pending for the next run, and exits 0.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from datetime import datetime
from types import FrameType
from typing import Protocol
from zoneinfo import ZoneInfo

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler

from ..errors import Busy, ConfigError
from ..progress import Plain, Reporter
from ..store.engine import refusal
from .cron import trigger

MISFIRE_GRACE = 3600  # a run the machine slept through still starts within the hour


class Outcome(Protocol):
    """What the daemon needs of a finished run: whether it went well, and its one line."""

    @property
    def ok(self) -> bool: ...

    def summary(self) -> str: ...


Job = Callable[[threading.Event], Outcome]


class Daemon:
    """The job on its trigger, one run at a time, until `stop` is set (by a signal)."""

    def __init__(self, cron: str, timezone: str, job: Job, log: Reporter) -> None:
        self.cron = cron
        self.timezone = timezone
        self.job = job
        self.log = log
        self.stop = threading.Event()
        self.when = trigger(cron, timezone)

    def next_run(self) -> datetime | None:
        # From the trigger, not the scheduler: shutdown() holds the scheduler's job store
        # while it waits for the running job's thread.
        return self.when.get_next_fire_time(None, datetime.now(ZoneInfo(self.timezone)))

    def run_once(self) -> None:
        if self.stop.is_set():
            return
        log = self.log
        log.info("scheduled run starting")
        try:
            outcome = self.job(self.stop)
        except ConfigError as exc:
            log.error(f"run not started: {exc}")
        except Busy as exc:
            log.warn(f"run skipped: {exc}")
        except Exception as exc:  # a bug must not end the schedule; the next run still fires
            if (why := refusal(exc)) is not None:
                log.error(f"run failed, the database refused: {why}")
            else:
                log.error(f"run crashed: {type(exc).__name__}: {exc}")
        else:
            (log.info if outcome.ok else log.error)(outcome.summary())
        nxt = self.next_run()
        if nxt is not None and not self.stop.is_set():
            log.info(f"next run at {nxt:%Y-%m-%d %H:%M:%S %Z}")

    def on_signal(self, signum: int, _frame: FrameType | None) -> None:
        if not self.stop.is_set():
            self.log.info(
                f"{signal.Signals(signum).name}: stopping after the message being sent; "
                "the rest stays pending for the next run"
            )
        self.stop.set()

    def serve(self) -> None:
        scheduler = BackgroundScheduler(
            timezone=self.timezone,
            executors={"default": ThreadPoolExecutor(1)},
            job_defaults={
                "coalesce": True,
                "max_instances": 1,
                "misfire_grace_time": MISFIRE_GRACE,
            },
        )
        scheduler.add_job(self.run_once, self.when, id="digest")
        scheduler.start()
        self.log.info(
            f"daemon started: schedule {self.cron!r} in {self.timezone}; "
            f"next run at {self.next_run():%Y-%m-%d %H:%M:%S %Z}"
        )
        while not self.stop.wait(0.5):
            pass
        scheduler.shutdown(wait=True)  # the run in progress returns at its next message
        self.log.info("daemon stopped")


def daemon(cron: str, timezone: str, job: Job, reporter: Reporter | None = None) -> None:
    """Run `job` on the `cron` schedule in `timezone` until SIGTERM or SIGINT. `job` gets the
    stop event, which a run checks between messages."""
    runner = Daemon(cron, timezone, job, reporter or Plain())
    signals = (signal.SIGTERM, signal.SIGINT)
    previous = {s: signal.signal(s, runner.on_signal) for s in signals}
    try:
        runner.serve()
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
