"""Reading a digest outside the inbox, against a real `digest serve`, a real run and a real
SMTP server: each digest's "view in browser" page (with every paper that matched), the
subscriber's archive, and their private Atom feed, read by feedparser as a feed reader
would. Links that were never ours are 404; a subscription that ended answers 410."""

from __future__ import annotations

import re
from collections.abc import Iterator
from email.message import EmailMessage

import feedparser
import httpx
import pytest

from tests.support.served import Served, served
from tests.support.smtp import SMTPServer

READER = "ada@example.org"
PROFILE = f"""
[[subscriber]]
email = "{READER}"
name = "Ada"
keywords = ["robot", "world model"]
max_papers = 3
"""
DAYS = ("2025-06-26", "2025-11-06")


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Served, SMTPServer]]:
    """A subscriber who was sent two digests, and the app that serves their pages."""
    workdir = tmp_path_factory.mktemp("reading")
    with SMTPServer() as smtp, served(workdir, smtp) as app:
        (workdir / "subscribers.toml").write_text(PROFILE)
        for day in DAYS:
            done = app.digest("run", "--date", day)
            assert done.returncode == 0, done.stderr
        yield app, smtp


def digests(smtp: SMTPServer) -> list[EmailMessage]:
    return [r.message for r in smtp.received if r.rcpt_tos == [READER]]


def footer_link(msg: EmailMessage, label: str) -> str:
    html = msg.get_body(("html",)).get_content()
    m = re.search(rf'<a href="([^"]+)"[^>]*>{label}</a>', html)
    assert m, f"no {label!r} link"
    return m.group(1)


def sent_titles(msg: EmailMessage) -> list[str]:
    text = msg.get_body(("plain",)).get_content()
    heads = re.findall(r"^\s+\d+\. (.+(?:\n {5}(?!\S+:).+)*)", text, re.M)
    return [" ".join(h.split()) for h in heads]


def test_view_in_browser_shows_the_digest_and_every_paper_that_matched(site) -> None:
    _, smtp = site
    mail = digests(smtp)[-1]
    html = mail.get_body(("html",)).get_content()
    more = re.search(r"(\d+) more papers matched your keywords but did not fit in 3", html)
    assert more, "the digest says how many did not fit"
    see_all = re.search(r'<a href="([^"]+#more)"[^>]*>See all (\d+)</a>', html)
    assert see_all and int(see_all.group(2)) == 3 + int(more.group(1))

    page = httpx.get(see_all.group(1))
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    flat = " ".join(page.text.split())
    for title in sent_titles(mail):
        assert title.replace("&", "&amp;") in flat
    assert 'id="more"' in page.text
    assert page.text.count('class="card"') == 3 + int(more.group(1))
    assert "script-src" not in page.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert footer_link(mail, "View in browser") == see_all.group(1).removesuffix("#more")


def test_the_archive_lists_each_digest_sent_and_opens_it(site) -> None:
    _, smtp = site
    first, last = digests(smtp)
    page = httpx.get(footer_link(last, "Past digests"))
    assert page.status_code == 200
    assert page.text.count("/view/") == 2
    for mail in (first, last):
        assert mail["Subject"].split(" (")[0][:40] in page.text.replace("&amp;", "&")
    opened = httpx.get(re.findall(r'href="([^"]*/view/[^"]+)"', page.text)[-1])
    assert opened.status_code == 200 and sent_titles(first)[0] in " ".join(opened.text.split())


def test_the_feed_is_atom_holding_exactly_the_papers_sent(site) -> None:
    _, smtp = site
    url = footer_link(digests(smtp)[-1], "Feed")
    got = httpx.get(url)
    assert got.status_code == 200
    assert got.headers["content-type"].startswith("application/atom+xml")
    feed = feedparser.parse(got.content)
    assert not feed.bozo, feed.get("bozo_exception")
    assert feed.version == "atom10"
    sent = {t for mail in digests(smtp) for t in sent_titles(mail)}
    assert {" ".join(e.title.split()) for e in feed.entries} == sent
    assert len(feed.entries) == len(sent) == 6
    assert all(e.link.startswith("https://") and e.summary for e in feed.entries)
    assert httpx.get(feed.feed.links[0].href).content == got.content  # rel="self" works


def test_the_preferences_page_links_the_archive_and_the_feed(site) -> None:
    _, smtp = site
    mail = digests(smtp)[0]
    prefs = httpx.get(footer_link(mail, "Preferences"))
    assert prefs.status_code == 200
    assert re.search(r'href="[^"]*/archive/[^"]+"[^>]*>Your past digests</a>', prefs.text)
    assert re.search(r'href="[^"]*/feed/[^"]+"[^>]*>your private feed</a>', prefs.text)


def test_links_not_ours_are_404_and_an_ended_subscription_answers_410(site) -> None:
    _, smtp = site
    mail = digests(smtp)[-1]
    feed, view = footer_link(mail, "Feed"), footer_link(mail, "View in browser")
    forged = re.sub(r"/feed/.*", "/feed/WyJ4Il0.forged.signature", feed)
    assert httpx.get(forged).status_code == 404
    assert httpx.get(view.replace("/view/", "/feed/")).status_code == 404  # another purpose
    unsubscribe = footer_link(mail, "Unsubscribe")
    assert httpx.post(unsubscribe, data={"List-Unsubscribe": "One-Click"}).status_code == 200
    for url in (feed, view, footer_link(mail, "Past digests")):
        assert httpx.get(url).status_code == 410
