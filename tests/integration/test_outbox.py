"""Relay faults injected by a real SMTP server, per recipient and per attempt: what is retried,
what fails for good, what waits in the outbox for the next run, and what is suppressed."""

from __future__ import annotations

import contextlib
import threading
import time
from datetime import date

import pytest
from sqlalchemy import create_engine, func, select
from sqlalchemy.exc import DBAPIError

from digest import store
from digest.jobs import daily
from digest.store import schema
from tests.support.settings import make_settings
from tests.support.smtp import SMTPServer

# Every test here runs on SQLite and on PostgreSQL (`database` in conftest.py).
pytestmark = pytest.mark.usefixtures("database")

DAY = date(2025, 11, 6)  # a bundled sample day: ada and grace each get one digest
ADA, GRACE = "ada@example.org", "grace@example.org"


def settings_for(workdir, smtp: SMTPServer, **env: str):
    return make_settings(workdir, **smtp.env(**{"SMTP_RETRIES": "2", **env}))


def outbox(settings) -> dict[str, tuple[str, int, str | None]]:
    """Each subscriber's latest message: status, attempts, the relay's last answer."""
    m = schema.messages
    with create_engine(settings.database.url).connect() as conn:
        rows = conn.execute(
            select(m.c.subscriber_email, m.c.status, m.c.attempts, m.c.detail).order_by(
                m.c.created_at
            )
        )
        return {r.subscriber_email: (r.status, r.attempts, r.detail) for r in rows}


def test_transient_answers_are_retried_within_the_run(workdir, smtp_server) -> None:
    smtp_server.handler.faults[ADA] = ["451 4.3.0 try later", "452 4.2.2 over quota"]
    settings = settings_for(workdir, smtp_server)
    report = daily.run(settings, DAY)
    assert (report.sent, report.deferred, report.failed, report.exit_code) == (2, 0, 0, 0)
    assert smtp_server.handler.count() == {ADA: 1, GRACE: 1}
    assert smtp_server.handler.attempts[ADA] == 3
    assert outbox(settings)[ADA] == ("sent", 3, None)


def test_dropped_connection_421_and_timeout_reconnect_and_retry(workdir, smtp_server) -> None:
    smtp_server.handler.faults[ADA] = ["drop", "421 4.3.2 shutting down"]
    smtp_server.handler.faults[GRACE] = ["stall"]
    settings = settings_for(workdir, smtp_server)
    report = daily.run(settings, DAY)
    assert (report.sent, report.deferred, report.exit_code) == (2, 0, 0)
    assert smtp_server.handler.count() == {ADA: 1, GRACE: 1}
    assert len(smtp_server.handler.peers) >= 3  # a new connection after each loss


def test_still_failing_transient_stays_pending_then_goes_out_unchanged(
    workdir, smtp_server
) -> None:
    smtp_server.handler.faults[ADA] = ["451 4.7.1 greylisted"] * 3
    settings = settings_for(workdir, smtp_server)
    first = daily.run(settings, DAY)
    assert (first.sent, first.deferred, first.exit_code) == (1, 1, 0)
    assert "1 left pending for the next run" in first.summary()
    status, attempts, answer = outbox(settings)[ADA]
    assert (status, attempts, answer) == ("pending", 3, "451 4.7.1 greylisted")
    with create_engine(settings.database.url).connect() as conn:
        m, b = schema.messages, schema.bodies
        (mid, raw) = conn.execute(
            select(m.c.message_id, b.c.raw)
            .join(b, b.c.message_id == m.c.message_id)
            .where(m.c.subscriber_email == ADA)
        ).one()

    second = daily.run(settings, DAY)
    assert (second.earlier, second.mailed, second.sent) == (1, 0, 1)
    (got,) = [m for m in smtp_server.received if m.rcpt_tos == [ADA]]
    assert got.message["Message-ID"] == mid
    assert got.raw.rstrip(b"\r\n") == raw.rstrip(b"\r\n")  # byte for byte what was decided
    assert daily.run(settings, DAY).sent == 0


def test_permanent_refusal_fails_one_message_and_repeated_ones_suppress(
    workdir, smtp_server
) -> None:
    smtp_server.handler.refuse_rcpt[GRACE] = "550 5.1.1 <grace@example.org>: no such user"
    settings = settings_for(workdir, smtp_server, DIGEST_SUPPRESS_AFTER="2")
    first = daily.run(settings, DAY)
    assert (first.sent, first.failed, first.exit_code) == (1, 1, 0)
    assert first.refusals == [f"{GRACE}: refused for good: 550 5.1.1 <{GRACE}>: no such user"]
    assert outbox(settings)[GRACE][:2] == ("failed", 1)

    second = daily.run(settings, DAY)  # the papers were freed, so grace is tried again
    assert (second.mailed, second.failed, second.suppressed) == (1, 1, 0)
    third = daily.run(settings, DAY)
    assert (third.mailed, third.failed, third.suppressed) == (0, 0, 1)
    assert "1 suppressed" in third.summary()

    smtp_server.handler.refuse_rcpt.clear()
    with create_engine(settings.database.url).begin() as conn:
        assert store.suppressions.unsuppress(conn, GRACE)
    assert daily.run(settings, DAY).sent == 1
    assert smtp_server.handler.count() == {ADA: 1, GRACE: 1}


def test_a_content_refusal_fails_the_message_but_does_not_count_against_the_address(
    workdir, smtp_server
) -> None:
    smtp_server.handler.faults[GRACE] = ["data 554 5.7.1 message rejected as spam"] * 3
    settings = settings_for(workdir, smtp_server, DIGEST_SUPPRESS_AFTER="1")
    daily.run(settings, DAY)
    report = daily.run(settings, DAY)
    assert (report.failed, report.suppressed) == (1, 0)


def test_a_refused_sender_stops_delivery_and_leaves_everything_pending(
    workdir, smtp_server
) -> None:
    smtp_server.handler.refuse_mail = "550 5.7.1 sender not allowed"
    settings = settings_for(workdir, smtp_server, DIGEST_SUPPRESS_AFTER="1")
    report = daily.run(settings, DAY)
    assert (report.sent, report.failed, report.deferred, report.exit_code) == (0, 0, 2, 1)
    assert "refuses the sender digest@localhost: 550 5.7.1" in report.delivery_error
    assert {s for s, _, _ in outbox(settings).values()} == {"pending"}

    smtp_server.handler.refuse_mail = None
    assert daily.run(settings, DAY).sent == 2


def test_relay_going_away_mid_run_leaves_the_rest_pending(workdir) -> None:
    settings = None
    with SMTPServer() as smtp:
        # one connection: a second one, open before the relay went away, would carry the rest
        settings = settings_for(workdir, smtp, SMTP_MAX_CONNECTIONS="1")

        def vanish(n: int, session) -> None:
            if n == 2:
                smtp.controller.server.close()  # stop listening, and drop this connection
                session.transport.close()

        smtp.handler.on_mail = vanish
        report = daily.run(settings, DAY)
        assert (report.sent, report.deferred, report.exit_code) == (1, 1, 1)
        assert report.delivery_error.startswith("cannot reach SMTP relay")
        assert smtp.handler.count().total() == 1
    with SMTPServer() as again:
        settings = settings_for(workdir, again)
        report = daily.run(settings, DAY)
        assert (report.earlier, report.sent) == (1, 1)
        assert again.handler.count().total() == 1


def test_an_unsubscribed_address_gets_no_pending_mail(workdir, smtp_server) -> None:
    smtp_server.handler.faults[GRACE] = ["451 later"] * 3
    settings = settings_for(workdir, smtp_server)
    daily.run(settings, DAY)
    text = (workdir / "subscribers.toml").read_text()
    (workdir / "subscribers.toml").write_text(text[: text.index('[[subscriber]]\nemail = "grace')])
    smtp_server.handler.faults.clear()
    report = daily.run(settings, DAY)
    assert report.sent == 0 and outbox(settings)[GRACE][0] == "cancelled"
    assert smtp_server.handler.count() == {ADA: 1}


def test_filling_waits_for_sending_so_the_outbox_never_holds_a_whole_run(
    workdir, monkeypatch
) -> None:
    """A slow relay: the run stores a few batches ahead of what is sent, not the whole list,
    so a long list's bytes are never all in the database at once; everyone is still mailed."""
    from digest.jobs import outbox as ledger
    from digest.jobs import plan, send
    from tests.support.cli import write_subscribers

    monkeypatch.setattr(plan, "BATCH", 5)
    monkeypatch.setattr(send.Backlog, "LIMIT", 10)
    monkeypatch.setattr(ledger, "DROP_BYTES_EVERY", 5)
    emails = write_subscribers(workdir, 60)
    peak, done = [0], threading.Event()
    with SMTPServer() as smtp:
        smtp.handler.data_delay = 0.01
        settings = settings_for(workdir, smtp, SMTP_MAX_CONNECTIONS="2")
        engine = create_engine(settings.database.url)

        def watch() -> None:
            while not done.is_set():
                with contextlib.suppress(DBAPIError), engine.connect() as conn:
                    held = conn.execute(select(func.count()).select_from(schema.bodies))
                    peak[0] = max(peak[0], held.scalar_one())
                time.sleep(0.005)

        watcher = threading.Thread(target=watch)
        watcher.start()
        try:
            report = daily.run(settings, date(2025, 6, 26))
        finally:
            done.set()
            watcher.join()
            engine.dispose()
        assert report.sent == len(emails) and report.exit_code == 0
        assert smtp.handler.count() == dict.fromkeys(emails, 1)
    # the limit, the batch stored meanwhile, and the sent ones whose bytes are dropped next
    assert 0 < peak[0] <= 10 + 5 + 5 + 2


def test_a_relay_slow_to_answer_the_end_of_data_gets_each_message_once(
    workdir, smtp_server
) -> None:
    """Taking longer than SMTP_TIMEOUT over the end of DATA is not a lost message: the relay
    has usually queued it (RFC 5321 4.5.3.2.6 gives it ten minutes). Waiting for the answer,
    not sending again, is what keeps one copy."""
    smtp_server.handler.data_delay = 2.5
    settings = settings_for(workdir, smtp_server, SMTP_TIMEOUT="1")
    report = daily.run(settings, DAY)
    assert (report.sent, report.deferred, report.exit_code) == (2, 0, 0)
    assert smtp_server.handler.count() == {ADA: 1, GRACE: 1}
    assert outbox(settings)[ADA][:2] == ("sent", 1)


def test_a_relay_silent_past_smtp_data_timeout_leaves_the_message_pending(
    workdir, smtp_server
) -> None:
    """Past SMTP_DATA_TIMEOUT the run stops waiting: the message is not marked sent (the
    relay said nothing), stays pending with why, and the next run sends it again."""
    smtp_server.handler.data_delay = 2.5
    settings = settings_for(
        workdir, smtp_server, SMTP_TIMEOUT="1", SMTP_DATA_TIMEOUT="1", SMTP_RETRIES="0"
    )
    first = daily.run(settings, DAY)
    assert (first.sent, first.deferred) == (0, 2)
    status, attempts, answer = outbox(settings)[ADA]
    assert (status, attempts) == ("pending", 1) and "timed out" in (answer or "")
    smtp_server.handler.data_delay = 0
    second = daily.run(settings, DAY)
    assert (second.sent, second.exit_code) == (2, 0)
    assert outbox(settings)[ADA][0] == "sent"
