"""Subscribers in the database: the file as one way in, the rules between what the file says
and what subscribers changed themselves, weekly digests."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, timedelta
from email import message_from_string, policy
from pathlib import Path

import pytest
from sqlalchemy import update

from digest import store
from digest.domain.subscriber import Keyword
from digest.jobs import daily, roster
from digest.jobs.visitors import Visitors
from digest.settings import SubscriberFile
from digest.store import schema
from digest.subscriptions import rules
from tests.support.settings import SUBSCRIBERS, database_of, imported, make_settings

# Every test here runs on SQLite and on PostgreSQL (`database` in conftest.py).
pytestmark = pytest.mark.usefixtures("database")


def terms(conn: store.Tx, email: str) -> list[str]:
    return [k.term for k in store.subscribers.get(conn, email).subscriber.keywords]


def test_the_file_is_imported_when_it_changes_and_a_subscribers_own_changes_stand(
    workdir: Path,
) -> None:
    path = workdir / "subscribers.toml"
    file = SubscriberFile(path, True)
    db = database_of(workdir)
    with db.begin() as conn:
        first = roster.sync_file(conn, file)
        assert sorted(first.added) == ["ada@example.org", "grace@example.org"]
        assert roster.sync_file(conn, file) is None  # unchanged: not read again
        ada = store.subscribers.get(conn, "ada@example.org")
        mine = replace(ada.subscriber, keywords=(Keyword("my own pick"),))
    Visitors(db).save_preferences(ada, mine, paused=False)

    # The operator edits grace's entry only: ada's own change stands, grace's edit applies.
    path.write_text(SUBSCRIBERS.replace('"video generation"', '"video generation", "3D"'))
    with db.begin() as conn:
        second = roster.sync_file(conn, file)
        assert second.updated == ["grace@example.org"] and second.unchanged == ["ada@example.org"]
        assert [
            k.term for k in store.subscribers.get(conn, "ada@example.org").subscriber.keywords
        ] == ["my own pick"]
        assert "3D" in [
            k.term for k in store.subscribers.get(conn, "grace@example.org").subscriber.keywords
        ]

    # Now the operator edits ada's entry too: the newer change, the operator's, wins.
    path.write_text(path.read_text().replace('"world model"', '"world models"'))
    with db.begin() as conn:
        third = roster.sync_file(conn, file)
        assert third.updated == ["ada@example.org"]
        assert terms(conn, "ada@example.org")[0] == "world models"


def test_an_entry_removed_from_the_file_removes_that_subscriber_only(workdir: Path) -> None:
    path = workdir / "subscribers.toml"
    db, file = imported(workdir)
    with db.begin() as conn:
        ada = store.subscribers.get(conn, "ada@example.org")
        roster.add_subscriber(conn, replace(ada.subscriber, email="cli@example.org"))
    path.write_text(SUBSCRIBERS[: SUBSCRIBERS.index('[[subscriber]]\nemail = "grace')])
    with db.begin() as conn:
        assert roster.sync_file(conn, file).removed == ["grace@example.org"]
        assert [m.email for m in store.subscribers.page(conn)] == [
            "ada@example.org",
            "cli@example.org",
        ]


def test_weekly_subscribers_get_the_weeks_best_once(workdir: Path) -> None:
    (workdir / "subscribers.toml").write_text(
        SUBSCRIBERS.replace("max_papers = 5", 'max_papers = 5\nfrequency = "weekly"')
    )
    settings = make_settings(workdir, DIGEST_WEEKLY_DAY="thursday")
    wednesday = daily.run(settings, date(2025, 11, 5))
    assert wednesday.ok
    assert not list((workdir / "outbox").glob("*/ada@example.org*"))

    thursday = daily.run(settings, date(2025, 11, 6))
    assert thursday.ok and thursday.sent == 2
    (ada,) = (workdir / "outbox").glob("2025-11-06/ada@example.org*.eml")
    raw = ada.read_text()
    subject = message_from_string(raw, policy=policy.default)["Subject"]
    assert subject.endswith(" and 4 more (week to 6 Nov)")
    assert "5 papers this week on" in raw
    assert "31 October =E2=80=93 6 November 2025" in raw or "31 October – 6 November 2025" in raw

    friday = daily.run(settings, date(2025, 11, 7))
    assert friday.sent == 0  # once a week, not again the day after
    again = daily.run(settings, date(2025, 11, 6))
    assert again.sent == 0  # grace (daily) already had the day's papers; ada had her week


def test_switching_to_weekly_waits_for_the_next_weekly_day(workdir: Path) -> None:
    db, _ = imported(workdir)
    with db.begin() as conn:
        month_ago = datetime.now() - timedelta(days=30)
        conn.execute(update(schema.subscribers).values(confirmed_at=month_ago))
        ada = store.subscribers.get(conn, "ada@example.org")
    Visitors(db).save_preferences(ada, replace(ada.subscriber, frequency="weekly"), paused=False)
    with db.reading() as conn:
        weekly = store.subscribers.get(conn, "ada@example.org")
    three_days_ago = (date.today().weekday() - 3) % 7
    assert not rules.weekly_due(weekly, date.today(), three_days_ago)


def test_a_weekly_digest_the_relay_deferred_goes_out_the_next_day(workdir: Path) -> None:
    """Left pending on the weekly day (451 each time), it is still owed the day after, when
    no weekly digest is due: delivered then, not cancelled."""
    from tests.support.smtp import SMTPServer

    (workdir / "subscribers.toml").write_text(
        SUBSCRIBERS.replace("max_papers = 5", 'max_papers = 5\nfrequency = "weekly"')
    )
    with SMTPServer() as smtp:
        smtp.handler.faults["ada@example.org"] = ["451 4.3.0 try later"] * 4
        settings = make_settings(
            workdir, DIGEST_WEEKLY_DAY="thursday", SMTP_RETRIES="3", **smtp.env()
        )
        thursday = daily.run(settings, date(2025, 11, 6))
        assert thursday.deferred == 1 and smtp.handler.count()["ada@example.org"] == 0
        friday = daily.run(settings, date(2025, 11, 7))
        assert friday.earlier == 1 and friday.sent >= 1
        (got,) = [r.message for r in smtp.received if r.rcpt_tos == ["ada@example.org"]]
        assert got["Subject"].endswith("and 4 more (week to 6 Nov)")
