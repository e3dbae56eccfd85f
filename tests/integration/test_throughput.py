"""Delivery at scale, as a relay sees it: the connection cap and the rate limit hold exactly,
connections are renewed every so many messages, and progress is reported while mail goes
out."""

from __future__ import annotations

import io
import re
from datetime import date
from pathlib import Path

import pytest

from digest.jobs import daily
from digest.progress import Plain
from tests.support.cli import DAY, write_subscribers
from tests.support.settings import make_settings
from tests.support.smtp import SMTPServer

# Every test here runs on SQLite and on PostgreSQL (`database` in conftest.py).
pytestmark = pytest.mark.usefixtures("database")


def run(tmp_path: Path, smtp: SMTPServer, reporter: Plain | None = None, **env: str):
    settings = make_settings(tmp_path, **smtp.env(**env))
    return daily.run(settings, date.fromisoformat(DAY), reporter=reporter)


@pytest.mark.parametrize("workers", ["1", "2", "3"])
def test_connections_never_exceed_the_cap_and_all_of_it_is_used(
    tmp_path: Path, workers: str
) -> None:
    """However many worker processes share the run, the relay never sees more connections
    than SMTP_MAX_CONNECTIONS, and sees that many."""
    emails = write_subscribers(tmp_path, 60)
    with SMTPServer() as smtp:
        smtp.handler.data_delay = 0.02  # slow enough that every connection is busy at once
        report = run(tmp_path, smtp, SMTP_MAX_CONNECTIONS="3", DIGEST_WORKERS=workers)
        assert report.ok and report.sent == 60 and report.mailed == 60
        assert smtp.handler.most_open == 3
        assert smtp.handler.count() == dict.fromkeys(emails, 1)


@pytest.mark.parametrize("workers", ["1", "2"])
def test_the_rate_limit_holds_in_every_second(tmp_path: Path, workers: str) -> None:
    """At SMTP_RATE_LIMIT=20, no 21 messages are accepted within one second, anywhere in the
    run, whatever the relay's timing and however many processes send (the promise is about
    the relay's acceptances, `pace.Window`); and the limit is used, not undercut."""
    write_subscribers(tmp_path, 50)
    with SMTPServer() as smtp:
        smtp.handler.data_delay = 0.005
        report = run(
            tmp_path, smtp, SMTP_MAX_CONNECTIONS="4", SMTP_RATE_LIMIT="20", DIGEST_WORKERS=workers
        )
        assert report.ok and report.sent == 50
        at = sorted(smtp.handler.accepted_at)
        closest = min(b - a for a, b in zip(at, at[20:], strict=False))
        assert closest >= 1.0, f"21 messages within {closest:.3f} s"
        # Used, not undercut: the busiest second comes near the limit. (The mean over the run
        # would also count a helper's start-up, which is the machine's, not the limiter's.)
        busiest = max(sum(1 for b in at[i:] if b - a < 1.0) for i, a in enumerate(at))
        assert busiest >= 15, f"at most {busiest} messages in any one second"


def test_a_connection_carries_at_most_so_many_messages(tmp_path: Path) -> None:
    emails = write_subscribers(tmp_path, 23)
    with SMTPServer() as smtp:
        report = run(tmp_path, smtp, SMTP_MAX_CONNECTIONS="1", SMTP_MESSAGES_PER_CONNECTION="5")
        assert report.ok
        assert sorted(smtp.handler.per_connection.values()) == [3, 5, 5, 5, 5]
        assert smtp.handler.count() == dict.fromkeys(emails, 1)


def test_progress_lines_say_how_far_with_rate_and_time_left(tmp_path: Path) -> None:
    write_subscribers(tmp_path, 30)
    log = io.StringIO()
    with SMTPServer() as smtp:
        smtp.handler.data_delay = 0.01
        run(tmp_path, smtp, Plain(log, every=0.05), SMTP_MAX_CONNECTIONS="1")
    lines = re.findall(
        r"info: mailing: (\d+)/30 \(\d+%\), [\d,]+/s, about \S+ left", log.getvalue()
    )
    assert len(lines) >= 3 and len(set(lines)) == len(lines)  # moving forward
    assert "info: mailing: 30/30 in" in log.getvalue()
    assert re.search(r"timings: prepare [\d.]+s, rank [\d.]+s, compose [\d.]+s", log.getvalue())


@pytest.mark.parametrize("workers", ["1", "2"])
def test_progress_counts_messages_mailed_not_subscribers_looked_at(
    tmp_path: Path, workers: str
) -> None:
    """A subscriber with nothing new gets no message, so the mailing's count and total leave
    them out; a run that mails nothing says so without a "mailing: 4/4" of nothing. With
    several processes, the helpers' subscribers with nothing new are left out as well."""
    emails = write_subscribers(tmp_path, 12)
    with (tmp_path / "subscribers.toml").open("a") as file:
        for i in range(8):  # a topic the day's listing does not touch; first and last by
            # address, so that with two processes each has some (the list is cut by address)
            quiet = f"{'a' if i % 2 else 'z'}-quiet{i}@example.org"
            file.write(f'[[subscriber]]\nemail = "{quiet}"\nkeywords = ["zebrafish"]\n\n')
    first, second = io.StringIO(), io.StringIO()
    with SMTPServer() as smtp:
        report = run(tmp_path, smtp, Plain(first), DIGEST_WORKERS=workers)
        assert report.sent == 12 and report.subscribers == 20
        assert smtp.handler.count() == dict.fromkeys(emails, 1)
        again = run(tmp_path, smtp, Plain(second), DIGEST_WORKERS=workers)
        assert again.sent == 0
    assert ("2 worker processes" in first.getvalue()) == (workers == "2")
    assert re.findall(r"info: mailing: (\d+)/(\d+) in", first.getvalue()) == [("12", "12")]
    assert "mailing" not in second.getvalue()
