"""The whole job against real servers: HF API on loopback, aiosmtpd, a SQLite file."""

from __future__ import annotations

import re
import ssl
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select

from digest.domain.digest import SENT
from digest.jobs import daily
from digest.sources.huggingface import HuggingFaceSource
from digest.sources.sample import SampleSource
from digest.store import schema
from tests.support.http import FakeHF, Scripted
from tests.support.listings import hf_item
from tests.support.settings import make_settings
from tests.support.smtp import SMTPServer, authenticator

# Every test here runs on SQLite and on PostgreSQL (`database` in conftest.py).
pytestmark = pytest.mark.usefixtures("database")

D1, D2, D3 = date(2025, 11, 4), date(2025, 11, 5), date(2025, 11, 6)


def settings_for(workdir: Path, hf: FakeHF, smtp: SMTPServer, **env: str):
    base = smtp.env(DIGEST_SOURCES="huggingface", DIGEST_HF_API_URL=hf.api_url)
    return make_settings(workdir, **{**base, **env})


def fast(hf: FakeHF) -> list[HuggingFaceSource]:
    return [HuggingFaceSource(hf.api_url, backoff=0.01, attempts=2)]


def three_days(hf: FakeHF) -> None:
    a = hf_item("2511.00001", "World models for robots")
    b = hf_item("xb0000001", "Offline reinforcement learning with world models")
    c = hf_item("2511.00003", "Diffusion for video generation")
    noise = hf_item("2511.00004", "A study of tokenizers")
    d = hf_item("2511.00005", "Robot learning at scale")
    e = hf_item("2511.00006", "Latent diffusion, faster")
    f = hf_item("2511.00007", "Learned world model F")
    hf.days[str(D1)] = [a, b, c, noise]
    hf.days[str(D2)] = [hf_item("2511.00001v2", "World models for robots"), b, d, e]
    hf.days[str(D3)] = [d, f, hf_item("xc0000003", "Diffusion for Video Generation")]


def papers_in(message) -> list[str]:
    return re.findall(
        r"https://huggingface\.co/papers/(\S+)", message.get_body(("plain",)).get_content()
    )


def mail_for(smtp: SMTPServer, email: str):
    return [r.message for r in smtp.received if r.rcpt_tos == [email]]


def ledger(settings, email: str | None = None) -> int:
    """Papers delivered in accepted messages (to `email`)."""
    m = schema.messages
    stmt = select(m.c.papers).where(m.c.status == SENT)
    if email:
        stmt = stmt.where(m.c.subscriber_email == email)
    with create_engine(settings.database.url).connect() as conn:
        return sum(len(papers) for papers in conn.execute(stmt).scalars())


def test_three_overlapping_days_never_repeat_a_paper(workdir, hf_api, smtp_server) -> None:
    three_days(hf_api)
    settings = settings_for(workdir, hf_api, smtp_server)
    reports = [daily.run(settings, d, sources=fast(hf_api)) for d in (D1, D2, D3)]
    assert [r.exit_code for r in reports] == [0, 0, 0]

    ada = [papers_in(m) for m in mail_for(smtp_server, "ada@example.org")]
    grace = [papers_in(m) for m in mail_for(smtp_server, "grace@example.org")]
    assert ada == [["2511.00001", "xb0000001"], ["2511.00005"], ["2511.00007"]]
    assert grace == [
        ["2511.00003"],
        ["2511.00006"],
    ]  # day 3 re-lists C under another id: nothing new
    assert reports[2].summary().startswith("run 2025-11-06 ok: fetched 3 papers (1 new); 1 of 2")

    again = daily.run(settings, D3, sources=fast(hf_api))
    assert (again.exit_code, again.mailed, again.sent) == (0, 0, 0)
    assert len(smtp_server.received) == 5
    assert "0 of 2 subscribers had new papers; 0 sent, 0 failed" in again.summary()


def test_each_message_is_what_the_contract_says(workdir, hf_api, smtp_server) -> None:
    three_days(hf_api)
    settings = settings_for(workdir, hf_api, smtp_server, SMTP_MAX_CONNECTIONS="1")
    daily.run(settings, D1, sources=fast(hf_api))
    assert len(smtp_server.received) == 2 and len(smtp_server.handler.peers) == 1  # one connection
    (msg,) = mail_for(smtp_server, "ada@example.org")
    top = msg.get_body(("plain",)).get_content().split("\n  1. ", 1)[1].split("\n")[0].strip()
    assert msg["Subject"] == f"{top} and 1 more (4 Nov)"  # the top paper, and the day
    assert msg["To"] == "Ada Lovelace <ada@example.org>"
    assert msg.get_content_type() == "multipart/alternative"
    html = msg.get_body(("html",)).get_content()
    assert 'href="https://huggingface.co/papers/2511.00001"' in html
    assert 'href="https://arxiv.org/pdf/2511.00001"' in html


def test_untrusted_text_reaches_the_mail_as_text(workdir, hf_api, smtp_server) -> None:
    hf_api.days[str(D1)] = [
        hf_item(
            "2511.00001",
            "<script>alert(1)</script> World models",
            "<img src=x onerror=alert(2)> world model",
        )
    ]
    (workdir / "subscribers.toml").write_text(
        '[[subscriber]]\nemail = "eve@example.org"\nname = "Eve\\r\\nBcc: victim@example.com"\n'
        'keywords = ["world model"]\n'
    )
    report = daily.run(settings_for(workdir, hf_api, smtp_server), D1, sources=fast(hf_api))
    assert report.sent == 1
    (got,) = smtp_server.received
    assert got.rcpt_tos == ["eve@example.org"]
    msg = got.message
    assert msg["Bcc"] is None
    assert msg["To"] == '"Eve Bcc: victim@example.com" <eve@example.org>'
    html = msg.get_body(("html",)).get_content()
    assert "<script>" not in html and "<img src=x" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_dry_run_sends_nothing_and_changes_nothing(workdir, hf_api, smtp_server) -> None:
    three_days(hf_api)
    settings = settings_for(workdir, hf_api, smtp_server)
    report = daily.run(settings, D1, dry_run=True, sources=fast(hf_api))
    assert (report.mailed, report.sent, report.exit_code) == (2, 0, 0)
    assert smtp_server.received == []
    if settings.database.url.startswith("sqlite"):  # the file is not even created
        assert not (workdir / "digest.db").exists()
        return
    engine = create_engine(settings.database.url)
    with engine.connect() as conn:
        for table in (
            schema.papers,
            schema.listings,
            schema.claims,
            schema.bodies,
            schema.runs,
            schema.subscribers,
        ):
            assert conn.execute(select(func.count()).select_from(table)).scalar_one() == 0
    assert daily.run(settings, D1, sources=fast(hf_api)).sent == 2


def test_permanent_refusal_is_reported_and_others_still_get_mail(
    workdir, hf_api, smtp_server
) -> None:
    three_days(hf_api)
    settings = settings_for(workdir, hf_api, smtp_server)
    smtp_server.handler.refuse_rcpt["grace@example.org"] = "550 5.1.1 No such user"
    report = daily.run(settings, D1, sources=fast(hf_api))
    assert (report.sent, report.failed, report.exit_code) == (1, 1, 0)
    assert report.refusals == ["grace@example.org: refused for good: 550 5.1.1 No such user"]
    assert "1 sent, 1 failed" in report.summary()
    assert ledger(settings, "grace@example.org") == 0 and ledger(settings, "ada@example.org") == 2

    smtp_server.handler.refuse_rcpt.clear()
    retry = daily.run(settings, D1, sources=fast(hf_api))
    assert (retry.sent, retry.failed) == (1, 0)
    assert [papers_in(m) for m in mail_for(smtp_server, "grace@example.org")] == [["2511.00003"]]


def test_relay_refusing_every_message_fails_the_run(workdir, hf_api, smtp_server) -> None:
    three_days(hf_api)
    smtp_server.handler.refuse_rcpt.update(
        {"ada@example.org": "550 no", "grace@example.org": "553 no"}
    )
    report = daily.run(settings_for(workdir, hf_api, smtp_server), D1, sources=fast(hf_api))
    assert (report.sent, report.failed, report.exit_code) == (0, 2, 1)


def test_unreachable_relay_fails_early_and_marks_nothing_sent(workdir, hf_api, smtp_server) -> None:
    three_days(hf_api)
    settings = settings_for(workdir, hf_api, smtp_server, SMTP_PORT="9")
    report = daily.run(settings, D1, sources=fast(hf_api))
    assert report.exit_code == 1 and report.sent == 0 and report.deferred == 2
    assert report.delivery_error.startswith("cannot reach SMTP relay 127.0.0.1:9")
    assert ledger(settings) == 0
    ok = daily.run(settings_for(workdir, hf_api, smtp_server), D1, sources=fast(hf_api))
    assert (ok.earlier, ok.mailed, ok.sent) == (2, 0, 2)  # the outbox, as decided before


def test_failing_source_stores_nothing_and_the_other_source_still_delivers(
    workdir, hf_api, smtp_server
) -> None:
    hf_api.script = [Scripted(500, b"down")] * 2
    settings = settings_for(workdir, hf_api, smtp_server)
    report = daily.run(settings, D3, sources=[*fast(hf_api), SampleSource()])
    assert report.exit_code == 1
    (failure,) = report.source_failures
    assert failure.startswith(f"huggingface: {hf_api.api_url}/daily_papers?date=2025-11-06")
    assert "HTTP 500" in failure
    assert report.sent == 2  # the sample source's listing still went out
    assert "1 source(s) failed" in report.summary()


def test_a_failing_source_alone_sends_nothing(workdir, hf_api, smtp_server) -> None:
    hf_api.script = [Scripted(200, b"[{broken")]
    settings = settings_for(workdir, hf_api, smtp_server)
    report = daily.run(settings, D1, sources=fast(hf_api))
    assert (report.exit_code, report.sent, report.fetched) == (1, 0, 0)
    assert smtp_server.received == [] and ledger(settings) == 0


@pytest.fixture
def server_tls(tls_cert, monkeypatch) -> ssl.SSLContext:
    """The server's TLS context; the client trusts its certificate through SSL_CERT_FILE."""
    cert, key = tls_cert
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return context


def starttls_settings(workdir: Path, hf: FakeHF, smtp: SMTPServer, password: str):
    return settings_for(
        workdir, hf, smtp, SMTP_SECURITY="starttls", SMTP_USERNAME="digest", SMTP_PASSWORD=password
    )


def test_starttls_with_login(workdir, hf_api, server_tls) -> None:
    three_days(hf_api)
    with SMTPServer(
        tls_context=server_tls,
        require_starttls=True,
        authenticator=authenticator("digest", "s3cret"),
    ) as smtp:
        settings = starttls_settings(workdir, hf_api, smtp, password="s3cret")
        assert daily.run(settings, D1, sources=fast(hf_api)).sent == 2
        assert len(smtp.received) == 2


def test_implicit_tls(workdir, hf_api, server_tls) -> None:
    three_days(hf_api)
    with SMTPServer(ssl_context=server_tls) as smtp:
        settings = settings_for(workdir, hf_api, smtp, SMTP_SECURITY="ssl")
        assert daily.run(settings, D1, sources=fast(hf_api)).sent == 2


def test_wrong_password_fails_the_run_with_nothing_sent(workdir, hf_api, server_tls) -> None:
    three_days(hf_api)
    with SMTPServer(
        tls_context=server_tls, authenticator=authenticator("digest", "s3cret")
    ) as smtp:
        settings = starttls_settings(workdir, hf_api, smtp, password="wrong")
        report = daily.run(settings, D1, sources=fast(hf_api))
        assert report.exit_code == 1 and smtp.received == []
        assert "refused the login for digest: 535" in report.delivery_error
        assert "wrong" not in report.delivery_error
        assert ledger(settings) == 0


def test_file_backend_writes_eml_and_html(workdir) -> None:
    settings = make_settings(workdir, DIGEST_EMAIL_BACKEND="file")
    report = daily.run(settings, D3)
    assert report.sent == 2
    day_dir = workdir / "outbox" / "2025-11-06"
    assert sorted(p.suffix for p in day_dir.iterdir()) == [".eml", ".eml", ".html", ".html"]


def test_max_papers_caps_a_digest_and_leftovers_do_not_trickle_out(workdir) -> None:
    settings = make_settings(workdir, DIGEST_EMAIL_BACKEND="file")
    report = daily.run(settings, date(2025, 6, 26))
    assert report.sent == 2
    assert ledger(settings, "ada@example.org") == 5
    assert daily.run(settings, date(2025, 6, 26)).sent == 0


@pytest.mark.parametrize("backend", ["console"])
def test_console_backend_prints_the_message(workdir, capsys, backend) -> None:
    settings = make_settings(workdir, DIGEST_EMAIL_BACKEND=backend)
    assert daily.run(settings, D3).sent == 2
    out = capsys.readouterr().out
    assert (
        "To: Ada Lovelace <ada@example.org>" in out
        and "Paper:          https://huggingface.co/papers/" in out
    )


def test_leftovers_of_yesterday_do_not_trickle_into_a_run_whose_window_covers_it(
    workdir, hf_api
) -> None:
    """Papers a digest passed over below its cap are not sent by a later run whose window
    still lists them (the lookback), as they would be if only what was sent counted."""
    from datetime import UTC, datetime, timedelta

    from tests.support.listings import sample_items

    today = datetime.now(UTC).date()
    yesterday = today - timedelta(days=1)
    hf_api.days[str(yesterday)] = sample_items("2025-06-26")
    settings = make_settings(
        workdir,
        DIGEST_SOURCES="huggingface",
        DIGEST_HF_API_URL=hf_api.api_url,
        DIGEST_EMAIL_BACKEND="file",
        DIGEST_LOOKBACK_DAYS="3",
    )
    first = daily.run(settings, yesterday)
    assert first.sent == 2 and ledger(settings, "ada@example.org") == 5
    later = daily.run(settings)  # today's run: its window (today and two days back) lists them
    assert later.mailed == 0 and later.sent == 0

    # Kept only while a window can list them again: weeks later, only that day's are kept.
    weeks = today + timedelta(days=21)
    hf_api.days[str(weeks)] = sample_items("2025-11-06")
    assert daily.run(settings, weeks).sent == 2
    with create_engine(settings.database.url).connect() as conn:
        days = set(conn.execute(select(schema.passed.c.day)).scalars())
    assert days == {weeks}
