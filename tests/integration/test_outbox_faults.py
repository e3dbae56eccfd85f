"""The outbox under faults that are not the relay's: the database refusing to record a
delivery, a subscriber leaving while their digest is decided or sent, and a writer holding
the database while a run works. Each against a real SMTP server and a real database, on
SQLite and PostgreSQL."""

from __future__ import annotations

import threading
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text

from digest import store
from digest.domain.digest import CANCELLED
from digest.jobs import daily
from digest.jobs.visitors import Visitors
from digest.store import schema
from tests.support.databases import is_postgres
from tests.support.net import free_port
from tests.support.settings import database_of, imported, make_settings
from tests.support.smtp import SMTPServer

# Every test here runs on SQLite and on PostgreSQL (`database` in conftest.py).
pytestmark = pytest.mark.usefixtures("database")

DAY = date(2025, 11, 6)  # a bundled sample day: ada and grace each get one digest
ADA, GRACE = "ada@example.org", "grace@example.org"


def refuse_to_record_sent(workdir: Path, email: str) -> None:
    """The database itself refuses to mark `email`'s message sent, as a full disk would."""
    engine = database_of(workdir).engine
    with engine.begin() as conn:
        if is_postgres(workdir):
            conn.execute(
                text(
                    "CREATE FUNCTION refuse() RETURNS trigger AS $$ BEGIN "
                    "RAISE EXCEPTION 'disk full'; END $$ LANGUAGE plpgsql"
                )
            )
            conn.execute(
                text(
                    "CREATE TRIGGER refuse BEFORE UPDATE ON messages FOR EACH ROW "
                    f"WHEN (NEW.status = 'sent' AND NEW.subscriber_email = '{email}') "
                    "EXECUTE FUNCTION refuse()"
                )
            )
        else:
            conn.execute(
                text(
                    "CREATE TRIGGER refuse BEFORE UPDATE ON messages "
                    f"WHEN NEW.status = 'sent' AND NEW.subscriber_email = '{email}' "
                    "BEGIN SELECT RAISE(ABORT, 'disk full'); END"
                )
            )
    engine.dispose()


def allow_recording(workdir: Path) -> None:
    engine = database_of(workdir).engine
    with engine.begin() as conn:
        conn.execute(text("DROP TRIGGER refuse" + (" ON messages" if is_postgres(workdir) else "")))
    engine.dispose()


def test_a_delivery_that_cannot_be_recorded_is_never_sent_twice_in_one_run(
    workdir: Path,
) -> None:
    """The relay accepted ada's digest, then recording that failed: the lane stops, the run
    fails, and nothing sends it again until the next run, which does so once, under the same
    Message-ID (the documented window)."""
    database_of(workdir).dispose()
    refuse_to_record_sent(workdir, ADA)
    with SMTPServer() as smtp:
        settings = make_settings(workdir, **smtp.env(SMTP_RETRIES="3", SMTP_MAX_CONNECTIONS="2"))
        first = daily.run(settings, DAY)
        assert smtp.handler.count() == {ADA: 1, GRACE: 1}
        assert first.unrecorded == 1 and first.sent == 1 and first.exit_code == 1
        assert any("could not be recorded as sent" in p for p in first.problems)
        allow_recording(workdir)
        second = daily.run(settings, DAY)
        assert second.sent == 1 and smtp.handler.count() == {ADA: 2, GRACE: 1}
        ids = {r.message["Message-ID"] for r in smtp.received if r.rcpt_tos == [ADA]}
        assert len(ids) == 1


def test_an_unsubscribe_during_the_smtp_conversation_keeps_the_delivered_papers(
    workdir: Path,
) -> None:
    """Ada unsubscribes while the relay is taking her digest. It stays cancelled (state moves
    only forward), but its papers stay hers: after an Undo, they are not mailed again."""
    db, _ = imported(workdir)
    visitors = Visitors(db)
    undo: list = []

    def unsubscribe_now(n: int, server: Any) -> None:
        if server.envelope.rcpt_tos != [ADA]:
            return
        with db.reading() as conn:
            ada = store.subscribers.get(conn, ADA)
        if ada is not None and ada.status == "active":
            undo.append(visitors.unsubscribe(ada))

    with SMTPServer() as smtp:
        smtp.handler.on_data = unsubscribe_now
        settings = make_settings(workdir, **smtp.env(SMTP_MAX_CONNECTIONS="1"))
        daily.run(settings, DAY)
        smtp.handler.on_data = None
        assert smtp.handler.count()[ADA] == 1
        with db.reading() as conn:
            ada = store.subscribers.get(conn, ADA)
            status = conn.execute(
                select(schema.messages.c.status).where(schema.messages.c.subscriber_email == ADA)
            ).scalar_one()
        assert status == CANCELLED
        assert visitors.undo_unsubscribe(ada, undo[0])
        again = daily.run(settings, DAY)
        assert again.mailed == 0 and smtp.handler.count()[ADA] == 1
    db.dispose()


def test_a_subscriber_who_leaves_while_their_batch_is_decided_is_not_mailed(
    workdir: Path,
) -> None:
    """The batch was read before grace unsubscribed; storing it checks again."""
    from digest.jobs.decide import Decider
    from digest.jobs.fill import Filler
    from digest.jobs.plan import batches, plan
    from digest.jobs.result import RunResult
    from digest.jobs.wiring import composer_for
    from digest.progress import Silent

    settings = make_settings(workdir)
    db, _ = imported(workdir)
    daily.run(settings, date(2025, 6, 26))  # the listing of another day, stored
    with db.transaction(keep=True) as conn:
        from digest.jobs.collect import store_papers
        from digest.sources.sample import SampleSource

        store_papers(conn, SampleSource().fetch(DAY), "sample")
    with db.reading() as conn:
        who = plan(conn, settings, DAY, Silent())
        decider = Decider.of(conn, [DAY], False, settings.mail.domain)
    (batch,) = list(batches(db.reading, who))
    with db.reading() as conn:
        digests = decider.decide(conn, batch)
        grace = store.subscribers.get(conn, GRACE)
    assert {d.subscriber.email for d in digests} == {ADA, GRACE}
    Visitors(db).unsubscribe(grace)
    filler = Filler(db, composer_for(settings), RunResult(days=[DAY]), Silent())
    composed = list(filler.composed(digests))
    with db.writing() as conn:
        stored = filler.store(conn, composed, 1)
    assert [c.digest.subscriber.email for c in stored] == [ADA]
    with db.reading() as conn:
        owed = conn.execute(
            select(schema.messages.c.subscriber_email).where(schema.messages.c.status == "pending")
        ).scalars()
        assert list(owed) == [ADA]
    db.dispose()


def test_runs_while_another_writer_keeps_the_database_busy(workdir: Path) -> None:
    """Subscribers changing their preferences on the web all the while: every run goes
    through, and so does every change (no 'database is locked')."""
    db, _ = imported(workdir)
    visitors = Visitors(db)
    done = threading.Event()
    errors: list[BaseException] = []
    changes = [0]

    def keep_writing() -> None:
        try:
            while not done.is_set():
                with db.reading() as conn:
                    grace = store.subscribers.get(conn, GRACE)
                visitors.save_preferences(grace, grace.subscriber, paused=False)
                changes[0] += 1
                time.sleep(0.002)
        except BaseException as exc:  # the test fails below with what it was
            errors.append(exc)

    writer = threading.Thread(target=keep_writing)
    writer.start()
    try:
        with SMTPServer() as smtp:
            settings = make_settings(workdir, **smtp.env())
            for day in (date(2025, 6, 26), DAY, DAY):
                assert daily.run(settings, day).ok
    finally:
        done.set()
        writer.join()
        db.dispose()
    assert not errors, errors
    assert changes[0] > 20


def test_a_deferred_message_stays_with_its_worker_while_it_sends_others(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The relay defers ada's digest, then takes its time over grace's, longer than a lease
    lasts. The run's worker keeps renewing its lease on ada's digest meanwhile, so a `digest
    send` started then does not take it: ada gets it once, from the run's next pass."""
    from digest.deliver import sender
    from digest.jobs import send

    monkeypatch.setattr(sender, "lease_seconds", lambda smtp: 1.0)
    monkeypatch.setattr(send, "lease_seconds", lambda smtp: 1.0)
    with SMTPServer() as smtp:
        smtp.handler.faults[ADA] = ["451 4.3.0 try again later"]
        smtp.handler.data_delay = 3.0
        settings = make_settings(
            workdir,
            **smtp.env(
                SMTP_RETRIES="1",
                SMTP_RETRY_DELAY="4",
                SMTP_MAX_CONNECTIONS="1",
                SMTP_TIMEOUT="10",
            ),
        )
        reports: list = []
        run = threading.Thread(target=lambda: reports.append(daily.run(settings, DAY)))
        run.start()
        deadline = time.monotonic() + 30
        while smtp.handler.attempts[ADA] < 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(1.5)  # grace's digest still in the relay's hands, ada's lease due
        other = send.drain(settings)
        run.join()
        assert other.sent == 0
        assert reports[0].sent == 2 and smtp.handler.count() == {ADA: 1, GRACE: 1}


def test_papers_of_a_message_cancelled_in_a_dead_workers_hands_are_freed(workdir: Path) -> None:
    """A worker held ada's digest when she unsubscribed, then died before it could say
    whether the relay took it. Once she undoes the unsubscribe, the next run mails her
    those papers: they are not held for a worker that is gone."""
    db, _ = imported(workdir)
    closed = {
        "DIGEST_EMAIL_BACKEND": "smtp",
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": str(free_port()),
        "SMTP_SECURITY": "none",
    }
    assert daily.run(make_settings(workdir, **closed), DAY).exit_code == 1  # all stays pending
    with db.writing() as conn:
        leased = store.leases.claim(conn, "dead-host:1:abc", 10, timedelta(minutes=5))
    assert {email for _, email in leased} == {ADA, GRACE}
    visitors = Visitors(db)
    with db.reading() as conn:
        ada = store.subscribers.get(conn, ADA)
    undo = visitors.unsubscribe(ada)
    with db.reading() as conn:
        ada = store.subscribers.get(conn, ADA)
    assert visitors.undo_unsubscribe(ada, undo)
    with SMTPServer() as smtp:
        report = daily.run(make_settings(workdir, **smtp.env()), DAY)
        assert report.ok and smtp.handler.count() == {ADA: 1, GRACE: 1}
    db.dispose()
