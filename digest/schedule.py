"""`digest daemon`: the daily job on a cron schedule, with APScheduler.

One run at a time (max_instances=1, and the run lock against a cron line or a manual run),
missed runs coalesced into one and still started up to an hour late, a failed run logged
and the next one fired as usual. SIGTERM or SIGINT lets the message being sent finish, leaves
the rest pending for the next run, and exits 0.
"""

from __future__ import annotations

import re
import signal
import threading
from collections.abc import Callable
from datetime import datetime
from types import FrameType

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger

from .config import ConfigError, Settings
from .lock import Busy
from .progress import Plain, Reporter
from .report import RunReport

MISFIRE_GRACE = 3600  # a run the machine slept through still starts within the hour

_NAMES = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")


def _cron_weekdays(field: str) -> str:
    """A cron day-of-week field (0 or 7 = Sunday) as APScheduler 3 reads it (0 = Monday):
    numbers are expanded and named, so "1-5" means Monday to Friday, as crontab(5) says."""
    if field == "*" or not re.search(r"\d", field):
        return field
    days: set[int] = set()
    for part in field.split(","):
        base, _, step_text = part.partition("/")
        step = int(step_text) if step_text else 1
        if base == "*":
            lo, hi = 0, 6
        else:
            ends = [_day_number(x) for x in base.split("-")]
            if len(ends) > 2:
                raise ValueError(f"bad day-of-week range {base!r}")
            lo, hi = ends[0], ends[-1] if len(ends) == 2 else (6 if step_text else ends[0])
            if hi < lo:
                raise ValueError(f"bad day-of-week range {base!r}")
        if step < 1:
            raise ValueError(f"bad step in {part!r}")
        days.update(d % 7 for d in range(lo, hi + 1, step))
    return ",".join(_NAMES[d] for d in sorted(days))


def _day_number(text: str) -> int:
    text = text.strip().lower()
    if text.isdigit() and 0 <= int(text) <= 7:
        return int(text)
    if text[:3] in _NAMES:
        return _NAMES.index(text[:3])
    raise ValueError(f"bad day of week {text!r}")


def trigger(expression: str, timezone: str) -> CronTrigger:
    """A cron trigger from five fields (minute hour day month weekday), or six with seconds
    first (for tests and the impatient)."""
    fields = expression.split()
    if len(fields) not in (5, 6):
        raise ValueError(f"expected 5 fields (or 6 with seconds first), got {len(fields)}")
    second = fields.pop(0) if len(fields) == 6 else "0"
    minute, hour, day, month, weekday = fields
    return CronTrigger(
        second=second,
        minute=minute,
        hour=hour,
        day=day,
        month=month,
        day_of_week=_cron_weekdays(weekday),
        timezone=timezone,
    )


def daemon(
    settings: Settings,
    job: Callable[[threading.Event], RunReport],
    reporter: Reporter | None = None,
) -> None:
    """Run `job` on the schedule until SIGTERM or SIGINT. `job` gets the stop event, which a
    run checks between messages."""
    log = reporter or Plain()
    stop = threading.Event()
    when = trigger(settings.schedule, settings.timezone)

    def run_once() -> None:
        if stop.is_set():
            return
        log.info("scheduled run starting")
        try:
            report = job(stop)
        except ConfigError as exc:
            log.error(f"run not started: {exc}")
        except Busy as exc:
            log.warn(f"run skipped: {exc}")
        except Exception as exc:  # a bug must not end the schedule; the next run still fires
            log.error(f"run crashed: {type(exc).__name__}: {exc}")
        else:
            (log.info if report.ok else log.error)(report.summary())
        # From the trigger, not the scheduler: shutdown() holds the scheduler's job store
        # while it waits for this thread.
        nxt = when.get_next_fire_time(None, datetime.now(settings.tz))
        if nxt is not None and not stop.is_set():
            log.info(f"next run at {nxt:%Y-%m-%d %H:%M:%S %Z}")

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        if not stop.is_set():
            log.info(
                f"{signal.Signals(signum).name}: stopping after the message being sent; "
                "the rest stays pending for the next run"
            )
        stop.set()

    scheduler = BackgroundScheduler(
        timezone=settings.timezone,
        executors={"default": ThreadPoolExecutor(1)},
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": MISFIRE_GRACE},
    )
    scheduler.add_job(run_once, when, id="digest")
    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        scheduler.start()
        first = when.get_next_fire_time(None, datetime.now(settings.tz))
        log.info(
            f"daemon started: schedule {settings.schedule!r} in {settings.timezone}; "
            f"next run at {first:%Y-%m-%d %H:%M:%S %Z}"
        )
        while not stop.wait(0.5):
            pass
        scheduler.shutdown(wait=True)  # the run in progress returns at its next message
        log.info("daemon stopped")
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
