"""The subscriber's web pages against a real `digest serve` and a real SMTP server: signed
links that cannot be forged, reused or pointed at someone else, CSRF, header injection
through the form, floods, RFC 8058 one-click unsubscribe."""

from __future__ import annotations

import contextlib
import html
import json
import os
import re
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from itsdangerous import TimestampSigner, URLSafeTimedSerializer
from sqlalchemy import create_engine

from digest import store
from digest.domain.subscriber import Subscription
from digest.web.security import PER_NETWORK
from tests.support.databases import HOW, admin_url, fresh_postgres
from tests.support.served import CSRF as CSRF_RE
from tests.support.served import (
    SECRET,
    Client,
    Served,
    links_in,
    mail_to,
    served,
    wait_for_mail,
)
from tests.support.smtp import SMTPServer


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def site(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Served, SMTPServer]]:
    """One `digest serve` for the module, on SQLite and then on PostgreSQL."""
    workdir = tmp_path_factory.mktemp("web")
    with contextlib.ExitStack() as stack:
        if request.param == "postgresql":
            if admin_url() is None:
                if os.environ.get("CI"):
                    pytest.fail(HOW)
                pytest.skip(HOW)
            stack.enter_context(fresh_postgres(workdir))
        smtp = stack.enter_context(SMTPServer())
        yield stack.enter_context(served(workdir, smtp)), smtp


def member(app: Served, email: str) -> Subscription | None:
    engine = create_engine(app.env["DIGEST_DATABASE_URL"])
    try:
        with engine.connect() as conn:
            return store.subscribers.get(conn, email)
    finally:
        engine.dispose()


def confirmed(app: Served, smtp: SMTPServer, email: str, ip: str) -> tuple[Client, str]:
    """Subscribe and confirm `email`; returns the client and its preferences link."""
    client = Client(app.url, forwarded_for=ip)
    assert client.subscribe(email).status_code == 200
    (link,) = links_in(wait_for_mail(smtp, email)[-1])
    path = link.removeprefix(app.url)
    done = client.submit(path)
    assert done.status_code == 200 and "You are subscribed" in done.text
    prefs = re.search(r'href="(/preferences/[^"]+|http[^"]+/preferences/[^"]+)"', done.text)
    assert prefs
    return client, prefs.group(1).removeprefix(app.url)


def old_token(purpose: str, uid: str, days: float) -> str:
    """A correctly signed token made `days` ago."""

    class Past(TimestampSigner):
        def get_timestamp(self) -> int:
            return int(time.time() - days * 86400)

    s = URLSafeTimedSerializer(SECRET, salt=f"paper-digest/{purpose}", signer=Past)
    return str(s.dumps([uid]))


def test_the_pages_answer_with_security_headers_and_listen_on_loopback(site) -> None:
    app, _ = site
    page = httpx.get(app.url + "/")
    assert page.status_code == 200 and "Subscribe" in page.text
    assert "default-src 'none'" in page.headers["content-security-policy"]
    assert page.headers["referrer-policy"] == "no-referrer"
    assert page.headers["x-frame-options"] == "DENY"
    assert "samesite=strict" in page.headers["set-cookie"].lower()
    assert app.url.startswith("http://127.0.0.1:")


def test_nothing_but_one_confirmation_goes_to_an_unconfirmed_address(site) -> None:
    app, smtp = site
    client = Client(app.url, forwarded_for="10.0.0.1")
    answer = client.subscribe("newbie@example.org", "world model\noffline RL ^2")
    assert answer.status_code == 200 and "Check your inbox" in answer.text
    (mail,) = wait_for_mail(smtp, "newbie@example.org")
    assert "world model and offline RL" in mail
    assert member(app, "newbie@example.org").status == "pending"

    run = app.digest("run", "--date", "2025-11-06")
    assert run.returncode == 0, run.stderr
    assert len(mail_to(smtp, "newbie@example.org")) == 1  # no digest before confirming


def test_forged_tampered_and_foreign_key_tokens_are_refused_and_change_nothing(site) -> None:
    app, smtp = site
    client, prefs = confirmed(app, smtp, "forge@example.org", "10.0.0.2")
    token = prefs.rsplit("/", 1)[1]
    other_key = URLSafeTimedSerializer("another-secret-key-xyz", salt="paper-digest/unsubscribe")
    uid = member(app, "forge@example.org").uid
    for bad in (
        "not-a-token",
        token[:-2] + ("AA" if not token.endswith("AA") else "BB"),
        str(other_key.dumps([uid])),
    ):
        for path in (f"/preferences/{bad}", f"/unsubscribe/{bad}", f"/confirm/{bad}"):
            assert client.http.get(path).status_code == 403, path
        one_click = httpx.post(
            f"{app.url}/unsubscribe/{bad}", data={"List-Unsubscribe": "One-Click"}
        )
        assert one_click.status_code == 403
    after = member(app, "forge@example.org")
    assert after.status == "active" and not after.paused


def test_a_token_for_one_purpose_does_not_work_for_another(site) -> None:
    app, smtp = site
    _, prefs = confirmed(app, smtp, "purpose@example.org", "10.0.0.3")
    token = prefs.rsplit("/", 1)[1]
    one_click = httpx.post(f"{app.url}/unsubscribe/{token}", data={"List-Unsubscribe": "One-Click"})
    assert one_click.status_code == 403
    assert member(app, "purpose@example.org").status == "active"


def test_expired_links_are_refused(site) -> None:
    app, smtp = site
    client = Client(app.url, forwarded_for="10.0.0.4")
    client.subscribe("late@example.org")
    wait_for_mail(smtp, "late@example.org")
    uid = member(app, "late@example.org").uid
    stale = old_token("confirm", uid, days=3)
    assert client.http.get(f"/confirm/{stale}").status_code == 403
    page = client.http.get(f"/confirm/{old_token('confirm', uid, days=1)}")
    assert page.status_code == 200  # a day-old link still works
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
    assert client.http.post(f"/confirm/{stale}", data={"csrf": csrf}).status_code == 403
    assert member(app, "late@example.org").status == "pending"
    assert client.http.get(f"/preferences/{old_token('preferences', uid, 91)}").status_code == 403


def test_one_subscribers_form_cannot_change_another(site) -> None:
    app, smtp = site
    ada, ada_prefs = confirmed(app, smtp, "x-ada@example.org", "10.0.0.5")
    _, bob_prefs = confirmed(app, smtp, "x-bob@example.org", "10.0.0.6")
    ada_csrf = ada.csrf(ada_prefs)
    answer = ada.http.post(
        bob_prefs, data={"csrf": ada_csrf, "keywords": "hijacked", "max_papers": "1"}
    )
    assert answer.status_code == 403
    bob = member(app, "x-bob@example.org")
    assert [k.term for k in bob.subscriber.keywords] == ["world model"]


def test_forms_without_a_valid_csrf_token_are_refused(site) -> None:
    app, smtp = site
    client, prefs = confirmed(app, smtp, "csrf@example.org", "10.0.0.7")
    change = {"keywords": "changed", "max_papers": "3"}
    assert client.http.post(prefs, data=change).status_code == 403  # no token
    # A token but no cookie: a form posted from another site does not carry our cookie.
    token = client.csrf(prefs)
    bare = httpx.post(app.url + prefs, data={"csrf": token, **change})
    assert bare.status_code == 403
    # The cookie and token, but the browser says the form came from elsewhere.
    evil = client.http.post(
        prefs, data={"csrf": token, **change}, headers={"Origin": "https://evil.example"}
    )
    assert evil.status_code == 403
    fresh = Client(app.url, forwarded_for="10.0.0.8")
    fresh.csrf("/")
    assert (
        fresh.http.post("/", data={"email": "nocsrf@example.org", "keywords": "x"}).status_code
        == 403
    )
    assert [k.term for k in member(app, "csrf@example.org").subscriber.keywords] == ["world model"]
    assert member(app, "nocsrf@example.org") is None
    ok = client.submit(prefs, **change)
    assert ok.status_code == 303


def test_header_injection_through_the_subscribe_form_goes_nowhere(site) -> None:
    app, smtp = site
    client = Client(app.url, forwarded_for="10.0.0.9")
    before = len(smtp.received)
    bad = client.subscribe("inj@example.org\r\nBcc: victim@example.org")
    assert bad.status_code == 400 and "not an email address" in bad.text
    bad2 = client.subscribe("inj2@example.org", keywords="x\r\nBcc: victim@example.org")
    assert bad2.status_code == 200
    name = client.subscribe("inj3@example.org", name="Eve\r\nBcc: victim@example.org")
    assert name.status_code == 200
    wait_for_mail(smtp, "inj3@example.org")
    wait_for_mail(smtp, "inj2@example.org")
    new = smtp.received[before:]
    assert all(r.rcpt_tos in (["inj2@example.org"], ["inj3@example.org"]) for r in new)
    for r in new:
        msg = r.message
        assert msg["Bcc"] is None
        head = r.raw.split(b"\r\n\r\n")[0].decode()
        assert not any(line.lower().startswith("bcc") for line in head.splitlines())
        assert [a.addr_spec for a in msg["To"].addresses] == r.rcpt_tos  # the name stays a name


def test_a_flood_of_requests_for_one_address_sends_one_email(site) -> None:
    app, smtp = site
    for i in range(25):
        Client(app.url, forwarded_for=f"10.1.0.{i}").subscribe("flood@example.org")
    time.sleep(0.5)
    assert len(mail_to(smtp, "flood@example.org")) == 1


def test_a_flood_from_one_client_is_cut_off(site) -> None:
    app, _ = site
    client = Client(app.url, forwarded_for="10.2.0.1")
    codes = [client.subscribe(f"many{i}@example.org").status_code for i in range(14)]
    assert codes[:10] == [200] * 10
    assert set(codes[10:]) == {429}
    refused = client.subscribe("one-more@example.org")
    assert refused.status_code == 429 and int(refused.headers["retry-after"]) > 0
    assert member(app, "one-more@example.org") is None


def test_a_huge_form_is_refused_before_it_is_read(site) -> None:
    app, _ = site
    client = Client(app.url, forwarded_for="10.3.0.1")
    csrf = client.csrf("/")
    big = client.http.post(
        "/", data={"csrf": csrf, "email": "a@example.org", "keywords": "x" * 100_000}
    )
    assert big.status_code == 413


def test_a_chunked_flood_is_cut_off_while_it_streams(site) -> None:
    """A body that does not say its length is read no further than a form's limit: the
    server's memory does not grow with it (it grew by 200 MB for 100 MiB before)."""
    app, _ = site
    status = Path(f"/proc/{app.process.pid}/status")

    def rss_kb() -> int:
        return int(re.search(r"VmRSS:\s+(\d+)", status.read_text()).group(1))

    def flood() -> Iterator[bytes]:
        for _ in range(1024):  # 64 MiB, chunked
            yield b"x" * 65536

    before = rss_kb()
    headers = {"Content-Type": "application/x-www-form-urlencoded", "X-Forwarded-For": "10.3.0.2"}
    with contextlib.suppress(httpx.TransportError):  # answered, and closed, mid-stream
        answer = httpx.post(app.url + "/", content=flood(), headers=headers, timeout=30)
        assert answer.status_code == 413
    assert rss_kb() - before < 16_000
    assert httpx.get(app.url + "/healthz").status_code == 200


def test_one_click_unsubscribe_works_without_cookies_or_a_page(site) -> None:
    app, smtp = site
    email = "oneclick@example.org"
    confirmed(app, smtp, email, "10.4.0.1")
    run = app.digest("run", "--date", "2025-11-06")
    assert run.returncode == 0, run.stderr
    digest = next(
        r.message for r in smtp.received if email in r.rcpt_tos and "List-Unsubscribe" in r.message
    )
    header = digest["List-Unsubscribe"]
    https, mailto = re.findall(r"<([^>]+)>", header)
    assert https.startswith(app.url + "/unsubscribe/") and mailto.startswith("mailto:")
    assert digest["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    answer = httpx.post(
        https,
        content=b"List-Unsubscribe=One-Click",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert answer.status_code == 200 and "<html" not in answer.text.lower()
    assert member(app, email).status == "unsubscribed"


def test_the_footer_link_asks_then_offers_an_undo(site) -> None:
    app, smtp = site
    email = "footer@example.org"
    client, prefs = confirmed(app, smtp, email, "10.5.0.1")
    page = client.http.get(prefs)
    unsubscribe = re.search(r'href="([^"]+/unsubscribe/[^"]+)"', page.text).group(1)
    path = unsubscribe.removeprefix(app.url)
    ask = client.http.get(path)
    assert ask.status_code == 200 and "Stop sending" in ask.text
    assert member(app, email).status == "active"  # a GET (a link scanner) changes nothing
    done = client.submit(path)
    assert done.status_code == 200 and "You are unsubscribed" in done.text
    assert member(app, email).status == "unsubscribed"
    undo = re.search(r'action="(/undo/[^"]+)"', done.text).group(1)
    csrf = re.search(r'name="csrf" value="([^"]+)"', done.text).group(1)
    back = client.http.post(undo, data={"csrf": csrf})
    assert back.status_code == 200 and "Welcome back" in back.text
    assert member(app, email).status == "active"
    again = client.http.post(undo, data={"csrf": csrf})
    assert again.status_code == 403  # an undo undoes one unsubscribe, once


def test_an_old_confirmation_link_does_not_undo_a_later_unsubscribe(site) -> None:
    app, smtp = site
    email = "replay@example.org"
    client = Client(app.url, forwarded_for="10.6.0.1")
    client.subscribe(email)
    (link,) = links_in(wait_for_mail(smtp, email)[-1])
    path = link.removeprefix(app.url)
    assert client.submit(path).status_code == 200
    m = member(app, email)
    one_click = httpx.post(
        f"{app.url}/unsubscribe/{old_token('unsubscribe', m.uid, 0)}",
        data={"List-Unsubscribe": "One-Click"},
    )
    assert one_click.status_code == 200
    replay = client.submit(path)
    assert replay.status_code == 403
    assert member(app, email).status == "unsubscribed"


def test_the_preferences_form_says_every_problem_beside_its_field(site) -> None:
    app, smtp = site
    email = "x-form@example.org"
    client, prefs = confirmed(app, smtp, email, "10.0.0.9")
    bad = client.submit(
        prefs, keywords="", trending="0", max_papers="500", categories="cs.XYZ", papers="not-an-id"
    )
    assert bad.status_code == 400
    page = html.unescape(bad.text)
    assert "Nothing was saved: 4 fields need a change" in page
    for message, field in (
        ("Enter at least one keyword", "keywords"),
        ("'cs.XYZ' is not an arXiv category", "categories"),
        ("'not-an-id' is not an arXiv id", "papers"),
        ("must be a whole number from 1 to 100", "max_papers"),
    ):
        assert re.search(rf'id="{field}-error">[^<]*{re.escape(message)}', page, re.I), message
    assert "'max_papers'" not in page  # the file's key names stay in the file
    assert member(app, email).subscriber.keywords[0].term == "world model"
    # this app reads no arXiv listing: categories would filter out every paper
    alone = client.submit(prefs, keywords="robot", max_papers="5", categories="cs.RO")
    assert alone.status_code == 400 and "Only arXiv says which categories" in alone.text
    assert member(app, email).subscriber.categories == ()


def test_the_subscribe_form_says_every_problem_beside_its_field(site) -> None:
    app, smtp = site
    client = Client(app.url, forwarded_for="10.0.1.1")
    bad = client.subscribe("not-an-address", keywords=" , ", frequency="hourly")
    assert bad.status_code == 400
    page = html.unescape(bad.text)
    assert "Not subscribed yet: 3 fields need a change" in page
    for message, field in (
        ("That is not an email address", "email"),
        ("Enter at least one keyword", "keywords"),
        ("Must be one of: daily, weekly", "frequency"),
    ):
        assert re.search(rf'id="{field}-error">[^<]*{re.escape(message)}', page), message
        assert re.search(rf'aria-describedby="[^"]*{field}-error"', page), field
    assert 'value="not-an-address"' in page  # what was typed stays to be corrected
    assert member(app, "not-an-address") is None and not mail_to(smtp, "not-an-address")


def test_preferences_keep_the_digest_to_arxiv_categories(tmp_path: Path, database: str) -> None:
    with (
        SMTPServer() as smtp,
        served(
            tmp_path, smtp, DIGEST_SOURCES="sample,arxiv", DIGEST_ARXIV_CATEGORIES="cs.RO,cs.LG"
        ) as app,
    ):
        email = "x-cat@example.org"
        client, prefs = confirmed(app, smtp, email, "10.0.0.9")
        done = client.submit(prefs, keywords="robot", max_papers="5", categories="cs.RO, cs.LG")
        assert done.status_code == 303
        assert member(app, email).subscriber.categories == ("cs.RO", "cs.LG")
        assert 'value="cs.RO cs.LG"' in client.http.get(prefs).text


def ratings_of(app: Served, email: str) -> dict[str, str]:
    engine = create_engine(app.env["DIGEST_DATABASE_URL"])
    try:
        with engine.connect() as conn:
            rated = store.ratings.of(conn, [email]).get(email, [])
            return {paper.title: verdict for paper, verdict in rated}
    finally:
        engine.dispose()


def rate_links(text: str, label: str) -> list[str]:
    return re.findall(rf"^ +{label}: +(\S+)$", text, re.M)


def test_a_rating_asks_first_then_ranks_the_next_digests_and_can_be_undone(site) -> None:
    app, smtp = site
    email = "rater@example.org"
    client, prefs = confirmed(app, smtp, email, "10.7.0.1")
    assert app.digest("run", "--date", "2025-06-26").returncode == 0
    text = next(t for t in mail_to(smtp, email) if "More like this:" in t).replace("\r\n", "\n")
    more, less = rate_links(text, "More like this"), rate_links(text, "Less like this")
    assert len(more) == len(less) == len(re.findall(r"^ +\d+\. ", text, re.M)) > 1
    title = re.search(r"^ +1\. (.+)$", text, re.M).group(1).strip()

    path = more[0].removeprefix(app.url)
    ask = client.http.get(path)  # what a mail scanner fetching every link does
    assert ask.status_code == 200 and "More like this" in ask.text
    assert ratings_of(app, email) == {}
    posted = client.submit(path)
    assert posted.status_code == 303
    done = client.http.get(posted.headers["location"])
    assert done.status_code == 200 and "Noted" in done.text
    assert client.http.get(posted.headers["location"]).text.count("Noted") == 1  # a reload
    ((rated, verdict),) = ratings_of(app, email).items()
    assert verdict == "more" and rated.startswith(title[:30])

    # the next digests: papers like the liked one rise, and the reason is given
    rank = app.digest("rank", email, "--date", "2025-11-06", "--json", "--top", "50")
    assert rank.returncode == 0, rank.stderr
    records = json.loads(rank.stdout)
    pulled = [r for r in records if any(m["field"] == "rated" for m in r["matches"])]
    assert pulled, "no paper of the next day is like the liked one"
    for r in records:
        assert round(sum(m["points"] for m in r["matches"]), 3) == round(r["score"], 3)
    why = next(m for m in pulled[0]["matches"] if m["field"] == "rated")
    assert why["keyword"] == f"like “{rated}”, which you liked" and why["points"] > 0

    # the form posted twice (a double click, a reload of the post): Undo still removes it
    again = client.http.post(path, data={"csrf": client.csrf(path), "was": ""})
    assert again.status_code == 303
    done = client.http.get(again.headers["location"])
    undo = client.http.post(path, data={"csrf": CSRF_RE.search(done.text).group(1), "undo": "1"})
    assert undo.status_code == 200 and "Undone" in undo.text
    assert ratings_of(app, email) == {}

    # less like this, then removed on the preferences page
    path = less[1].removeprefix(app.url)
    noted = client.submit(path).headers["location"]
    assert "Fewer papers like" in client.http.get(noted).text
    assert list(ratings_of(app, email).values()) == ["less"]
    page = client.http.get(prefs)
    assert "Papers you rated" in page.text and "Less like" in page.text
    key = re.search(r'name="unrate" value="([^"]+)"', page.text).group(1)
    removed = client.submit(prefs, unrate=key)
    assert removed.status_code == 303
    assert ratings_of(app, email) == {}
    assert "None yet" in client.http.get(prefs).text


def test_a_rating_link_is_signed_for_its_paper_and_verdict(site) -> None:
    app, smtp = site
    email = "rater2@example.org"
    client, _ = confirmed(app, smtp, email, "10.7.0.2")
    uid = member(app, email).uid
    s = URLSafeTimedSerializer(SECRET, salt="paper-digest/rate")
    for payload in ([uid, "no-such-paper", "more"], [uid]):
        path = f"/rate/{s.dumps(payload)}"
        assert client.http.get(path).status_code in (403, 404)
    forged = URLSafeTimedSerializer("not-the-key", salt="paper-digest/rate")
    assert client.http.get(f"/rate/{forged.dumps([uid, 'x', 'more'])}").status_code == 403
    assert ratings_of(app, email) == {}


def test_a_subscribe_post_for_a_known_address_changes_nothing_until_its_owner_confirms(
    site,
) -> None:
    app, smtp = site
    email = "owner@example.org"
    client, prefs = confirmed(app, smtp, email, "10.8.0.1")
    page = client.http.get(prefs)
    unsubscribe = re.search(r'href="[^"]*(/unsubscribe/[^"]+)"', page.text).group(1)
    client.submit(unsubscribe)
    assert member(app, email).status == "unsubscribed"

    engine = create_engine(app.env["DIGEST_DATABASE_URL"])
    with engine.begin() as conn:  # its last mail long ago: the next request mails it
        store.subscribers.set_notices(conn, email, [])
    engine.dispose()

    stranger = Client(app.url, forwarded_for="10.8.0.2")
    assert stranger.subscribe(email, keywords="crypto spam", name="Mallory").status_code == 200
    stored = member(app, email)
    assert [k.term for k in stored.subscriber.keywords] == ["world model"]
    assert stored.subscriber.name is None and stored.status == "unsubscribed"

    # the link mailed to the owner carries what was asked for, and shows it before anything
    (link,) = links_in(wait_for_mail(smtp, email, count=2)[-1])
    ask = client.http.get(link.removeprefix(app.url))
    assert "crypto spam" in ask.text and member(app, email).status == "unsubscribed"
    assert stranger.subscribe(email, keywords="more spam").status_code == 200
    assert "was mailed a few minutes ago: not mailed again" in app.log()


@pytest.fixture
def capped(tmp_path: Path, database: str) -> Iterator[tuple[Served, SMTPServer]]:
    """A `digest serve` of its own, whose mail rations a test may use up."""
    with SMTPServer() as smtp, served(tmp_path, smtp, DIGEST_SIGNUP_MAILS_PER_HOUR="50") as app:
        yield app, smtp


def same_answer_for_known_and_unknown(app: Served, ips: tuple[str, str]) -> int:
    answers = [
        Client(app.url, forwarded_for=ip).subscribe(email)
        for ip, email in zip(ips, ("known@example.org", "never-seen@example.org"), strict=True)
    ]
    assert answers[0].status_code == answers[1].status_code
    assert answers[0].text == answers[1].text
    assert member(app, "never-seen@example.org") is None
    return answers[0].status_code


def test_a_flood_from_one_network_uses_up_its_own_ration_only(capped) -> None:
    """Many clients of one /24 (or /64) cause at most PER_NETWORK mails an hour; past that the
    network gets the same 429 for every address, and the rest of the world can still sign up."""
    app, smtp = capped
    confirmed(app, smtp, "known@example.org", "10.9.1.1")
    codes = [
        Client(app.url, forwarded_for=f"10.9.2.{i}").subscribe(f"new{i}@example.org").status_code
        for i in range(PER_NETWORK[0] + 5)
    ]
    assert codes == [200] * PER_NETWORK[0] + [429] * 5
    assert len(smtp.received) == 1 + PER_NETWORK[0]
    assert same_answer_for_known_and_unknown(app, ("10.9.2.200", "10.9.2.201")) == 429
    six = ("2001:db8:1:2::1", "2001:db8:1:2:ffff::9")  # one /64: one ration
    for i in range(PER_NETWORK[0]):
        Client(app.url, forwarded_for=f"2001:db8:1:2::{i + 2:x}").subscribe(f"v6-{i}@example.org")
    assert same_answer_for_known_and_unknown(app, six) == 429
    welcome = Client(app.url, forwarded_for="192.0.2.7").subscribe("elsewhere@example.org")
    assert welcome.status_code == 200 and len(mail_to(smtp, "elsewhere@example.org")) == 1


def test_at_the_hourly_cap_every_address_gets_the_same_answer(capped) -> None:
    app, smtp = capped
    confirmed(app, smtp, "known@example.org", "10.9.1.1")
    for i in range(49):  # the app's cap of 50, from networks of 10 clients each
        Client(app.url, forwarded_for=f"10.{20 + i // 10}.0.{i % 10}").subscribe(f"n{i}@ex.org")
    assert same_answer_for_known_and_unknown(app, ("10.9.3.1", "10.9.4.1")) == 503
    assert len(mail_to(smtp, "known@example.org")) == 1  # its confirmation only
    assert "mails at their hourly limit" in app.log()


def test_confirming_applies_the_profile_its_link_carries_and_the_link_names_no_address(
    site,
) -> None:
    app, smtp = site
    email = "pending-owner@example.org"
    stranger = Client(app.url, forwarded_for="10.8.1.1")
    stranger.subscribe(email, keywords="crypto spam", name="Mallory")
    engine = create_engine(app.env["DIGEST_DATABASE_URL"])
    with engine.begin() as conn:  # the stranger's mail long ago: the owner's request mails
        store.subscribers.set_notices(conn, email, [])
    engine.dispose()
    owner = Client(app.url, forwarded_for="10.8.1.2")
    owner.subscribe(email, keywords="diffusion policy\nworld model", name="Ada")
    (link,) = links_in(wait_for_mail(smtp, email, count=2)[-1])
    token = link.rsplit("/", 1)[1]
    payload = URLSafeTimedSerializer(SECRET, salt="paper-digest/confirm").loads(token)
    assert email not in json.dumps(payload)  # a link names nobody by address
    ask = owner.http.get(link.removeprefix(app.url))
    assert "diffusion policy and world model" in ask.text and "(as Ada)" in ask.text
    assert [k.term for k in member(app, email).subscriber.keywords] == ["crypto spam"]
    assert owner.submit(link.removeprefix(app.url)).status_code == 200
    confirmed_sub = member(app, email)
    assert confirmed_sub.status == "active" and confirmed_sub.subscriber.name == "Ada"
    assert [k.term for k in confirmed_sub.subscriber.keywords] == [
        "diffusion policy",
        "world model",
    ]


def test_the_subscribe_page_offers_just_the_days_trending_papers(site) -> None:
    """No keywords needed: the confirmation says what was asked for, and confirming stores a
    profile of trending papers only, which preferences can change like any other."""
    app, smtp = site
    email = "trend-only@example.org"
    client = Client(app.url, forwarded_for="10.0.2.1")
    assert client.subscribe(email, keywords="", send="trending").status_code == 200
    mail = " ".join(wait_for_mail(smtp, email)[-1].split())
    assert "the day's 10 most upvoted new research papers, every day" in mail
    (link,) = links_in(mail)
    ask = client.http.get(link.removeprefix(app.url))
    assert "Send the day&#39;s 10 most upvoted new research papers" in ask.text
    done = client.submit(link.removeprefix(app.url))
    assert done.status_code == 200
    sub = member(app, email).subscriber
    assert sub.keywords == () and sub.trending == 10
    prefs = re.search(r'href="(/preferences/[^"]+|http[^"]+/preferences/[^"]+)"', done.text)
    path = prefs.group(1).removeprefix(app.url)
    kept = client.submit(path, keywords="", trending="4", max_papers="10")
    assert kept.status_code == 303 and member(app, email).subscriber.trending == 4
    bad = client.submit(path, keywords="", trending="0", max_papers="10")
    assert bad.status_code == 400 and "Enter at least one keyword" in bad.text
    # the default for a new subscriber: keywords, then the day's three most upvoted
    other = Client(app.url, forwarded_for="10.0.2.2")
    assert other.subscribe("both@example.org", keywords="robot").status_code == 200
    assert "on robot, then the day's 3 most upvoted others" in " ".join(
        wait_for_mail(smtp, "both@example.org")[-1].split()
    )


def test_mail_that_could_not_be_sent_uses_up_no_ration(tmp_path: Path, database: str) -> None:
    """While the relay is down every request gets the same 503 and nothing is counted, so the
    network's ration (and the app's) is whole again when the relay comes back."""
    from tests.support.net import free_port

    with SMTPServer() as smtp, served(tmp_path, smtp, SMTP_PORT=str(free_port())) as app:
        codes = [
            Client(app.url, forwarded_for=f"10.9.9.{i}").subscribe(f"d{i}@example.org").status_code
            for i in range(PER_NETWORK[0] + 2)
        ]
    assert set(codes) == {503}


def test_an_undo_does_not_bring_back_reading_links_an_earlier_unsubscribe_revoked(site) -> None:
    app, smtp = site
    email = "twice@example.org"
    client, prefs = confirmed(app, smtp, email, "10.5.1.1")
    old_feed = re.search(r'href="([^"]+/feed/[^"]+)"', client.http.get(prefs).text).group(1)
    assert httpx.get(old_feed).status_code == 200
    unsubscribe = re.search(r'href="([^"]+/unsubscribe/[^"]+)"', client.http.get(prefs).text)
    assert client.submit(unsubscribe.group(1).removeprefix(app.url)).status_code == 200
    assert httpx.get(old_feed).status_code == 410
    time.sleep(1.1)  # a link's stamp has whole seconds: the next ones are after the unsubscribe
    engine = create_engine(app.env["DIGEST_DATABASE_URL"])
    with engine.begin() as conn:  # as if the last mail to the address were long ago
        store.subscribers.set_notices(conn, email, [])
    engine.dispose()
    client, prefs = confirmed(app, smtp, email, "10.5.1.2")  # subscribed again
    new_feed = re.search(r'href="([^"]+/feed/[^"]+)"', client.http.get(prefs).text).group(1)
    done = client.submit(
        re.search(r'href="([^"]+/unsubscribe/[^"]+)"', client.http.get(prefs).text)
        .group(1)
        .removeprefix(app.url)
    )
    undo = re.search(r'action="(/undo/[^"]+)"', done.text).group(1)
    csrf = re.search(r'name="csrf" value="([^"]+)"', done.text).group(1)
    assert "Welcome back" in client.http.post(undo, data={"csrf": csrf}).text
    assert httpx.get(new_feed).status_code == 200  # the undo gives back what it took
    assert httpx.get(old_feed).status_code == 410  # not what the first unsubscribe took
