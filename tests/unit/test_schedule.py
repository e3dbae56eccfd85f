"""The daemon's schedule: crontab weekdays mean what crontab says, and a sixth field counts
seconds."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from digest.schedule.cron import trigger

THURSDAY = datetime(2025, 11, 6, 12, tzinfo=UTC)


@pytest.mark.parametrize(
    ("expression", "weekday"),
    [
        ("0 7 * * 1", "Monday"),  # APScheduler 3's own from_crontab would say Tuesday
        ("0 7 * * 0", "Sunday"),
        ("0 7 * * 7", "Sunday"),
        ("0 7 * * 5-6", "Friday"),
        ("0 7 * * 1-5", "Friday"),
        ("0 7 * * sat", "Saturday"),
        ("0 7 * * */2", "Saturday"),  # 0,2,4,6: Sunday, Tuesday, Thursday (past 7:00), Saturday
    ],
)
def test_cron_weekdays_mean_what_crontab_says(expression: str, weekday: str) -> None:
    fire = trigger(expression, "UTC").get_next_fire_time(None, THURSDAY)
    assert f"{fire:%A}" == weekday


def test_a_sixth_field_counts_seconds() -> None:
    fire = trigger("*/5 * * * * *", "UTC").get_next_fire_time(None, THURSDAY)
    assert (fire - THURSDAY).total_seconds() <= 5
