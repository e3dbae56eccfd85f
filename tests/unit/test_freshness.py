"""When a source looks stale: quiet weekends and holidays are not, three announcement days
without papers or a new build are."""

from __future__ import annotations

from datetime import UTC, date, datetime

from digest.domain.source import SourceState
from digest.sources.freshness import stale


def test_quiet_weekends_and_a_holiday_are_not_stale() -> None:
    friday, monday = date(2025, 11, 7), date(2025, 11, 10)
    fresh = SourceState("arxiv", last_listed=friday, checked_through=monday)
    assert stale(fresh, monday) is None
    holiday = SourceState("arxiv", last_listed=date(2025, 12, 30), checked_through=date(2026, 1, 1))
    assert stale(holiday, date(2026, 1, 1)) is None


def test_three_announcement_days_without_papers_or_a_new_build_are_stale() -> None:
    monday, thursday = date(2025, 11, 3), date(2025, 11, 6)
    quiet = SourceState("huggingface", last_listed=monday, checked_through=thursday)
    assert "listed nothing on the last 3 announcement days" in (stale(quiet, thursday) or "")
    frozen = SourceState(
        "arxiv",
        last_listed=thursday,
        checked_through=thursday,
        built_at=datetime(2025, 11, 6, 5, tzinfo=UTC),
    )
    assert stale(frozen, date(2025, 11, 10)) is None  # Fri, Mon: two days
    assert "has not moved for 3 announcement days" in (stale(frozen, date(2025, 11, 11)) or "")


def test_a_listing_dated_in_the_future_does_not_silence_the_stale_warning() -> None:
    monday, thursday = date(2025, 11, 3), date(2025, 11, 6)
    at = datetime(2025, 11, 6, 12, tzinfo=UTC)
    state = SourceState("arxiv", last_listed=monday, checked_through=thursday)
    future = date(2030, 1, 1)
    after = state.answered([thursday, future], [future], at)
    assert after.last_listed == monday and after.checked_through == thursday
    assert "listed nothing on the last 3 announcement days" in (stale(after, thursday) or "")
    tomorrow = state.answered([date(2025, 11, 7)], [date(2025, 11, 7)], at)  # time zones
    assert tomorrow.last_listed == date(2025, 11, 7)
