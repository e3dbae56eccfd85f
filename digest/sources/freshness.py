"""Is a source still alive? A quiet day is normal (arXiv announces nothing on weekends and
holidays); a source that listed nothing for several announcement days in a row, or whose feed
stopped being rebuilt, is stale, and the run and `digest status` say so, so that "no email"
is never silent breakage."""

from __future__ import annotations

from datetime import date, timedelta

from ..domain.source import SourceState

# Announcement days (Monday to Friday) without papers, or without a rebuilt feed, before a
# source counts as stale: longer than an arXiv holiday, shorter than a week of silence.
STALE_AFTER = 3


def announcement_days(after: date, through: date) -> int:
    """Weekdays d with after < d <= through."""
    count, day = 0, after + timedelta(days=1)
    while day <= through:
        count += day.weekday() < 5
        day += timedelta(days=1)
    return count


def stale(state: SourceState, today: date) -> str | None:
    """Why the source looks stale as of `today`, or None."""
    through = min(d for d in (state.checked_through, today) if d is not None)
    if state.last_listed is not None:
        quiet = announcement_days(state.last_listed, through)
        if quiet >= STALE_AFTER:
            return (
                f"listed nothing on the last {quiet} announcement days "
                f"(last papers {state.last_listed})"
            )
    elif state.first_checked is not None:
        quiet = announcement_days(state.first_checked - timedelta(days=1), through)
        if quiet >= STALE_AFTER:
            return f"has listed nothing since it was first asked, {quiet} announcement days ago"
    if state.built_at is not None:
        unmoved = announcement_days(state.built_at.date(), today)
        if unmoved >= STALE_AFTER:
            return (
                f"its feed was last rebuilt {state.built_at:%Y-%m-%d %H:%M} UTC and has not "
                f"moved for {unmoved} announcement days"
            )
    return None
