"""When a weekly digest is due: on its day, or the first run after a missed one."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime

from digest.domain.subscriber import Subscription
from digest.subscriptions import rules


def test_weekly_is_due_once_a_week_on_its_day_or_the_first_run_after() -> None:
    thursday = 3
    m = Subscription(
        subscriber=None,  # type: ignore[arg-type]
        status="active",
        paused=False,
        origin="cli",
        confirmed_at=datetime(2025, 10, 1),
    )
    wed, thu, fri = date(2025, 11, 5), date(2025, 11, 6), date(2025, 11, 7)
    done_last_week = replace(m, weekly_done=date(2025, 10, 30))
    assert not rules.weekly_due(replace(done_last_week), wed, thursday)
    assert rules.weekly_due(done_last_week, thu, thursday)
    assert rules.weekly_due(done_last_week, fri, thursday)  # Thursday's run was missed
    assert not rules.weekly_due(replace(m, weekly_done=thu), fri, thursday)
    joined_friday = replace(m, confirmed_at=datetime(2025, 11, 7, 9))
    assert not rules.weekly_due(joined_friday, fri, thursday)
