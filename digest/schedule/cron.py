"""Cron expressions as crontab(5) reads them, turned into APScheduler triggers."""

from __future__ import annotations

import re

from apscheduler.triggers.cron import CronTrigger

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
