"""A subscriber's whole life in headless Chromium against a real `digest serve`, with a real
SMTP server catching the mail: subscribe, confirm, get a digest, change keywords, leave with
the mail client's one-click unsubscribe, get nothing more."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest

from digest.compose.text import ZWSP
from tests.e2e.test_web import confirmed, ratings_of
from tests.support.needs_browser import require_chromium
from tests.support.served import links_in, served, wait_for_mail
from tests.support.smtp import SMTPServer

require_chromium()

from tests.support.browser import chromium, opened  # noqa: E402

# On SQLite and on PostgreSQL (`database` in conftest.py).
pytestmark = pytest.mark.usefixtures("database")

EMAIL = "lin@example.org"


def digests_to(smtp: SMTPServer, email: str) -> list:
    return [
        r.message
        for r in smtp.received
        if email in r.rcpt_tos and "Paper Digest subscription" not in r.message["Subject"]
    ]


@pytest.mark.parametrize("width", [375, 1024])
def test_subscribe_confirm_receive_change_keywords_unsubscribe(tmp_path: Path, width: int) -> None:
    with SMTPServer() as smtp, served(tmp_path, smtp) as app, chromium() as browser:
        page = browser.new_page(viewport={"width": width, "height": 900})
        problems: list[str] = []
        page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: problems.append(str(e)))

        page.goto(app.url + "/")
        page.get_by_label("Email").fill(EMAIL)
        page.get_by_label("Keywords").fill("reasoning\nlanguage model")
        page.get_by_label("Every day").check()
        page.get_by_role("button", name="Subscribe").click()
        page.get_by_role("heading", name="Check your inbox").wait_for()

        (confirmation,) = wait_for_mail(smtp, EMAIL)
        (link,) = links_in(confirmation)
        assert not digests_to(smtp, EMAIL)
        page.goto(link)
        page.get_by_role("button", name="Confirm subscription").click()
        page.get_by_role("heading", name="You are subscribed").wait_for()
        assert page.evaluate("document.documentElement.scrollWidth") <= width

        first = app.digest("run", "--date", "2025-06-26")
        assert first.returncode == 0, first.stderr
        (digest,) = digests_to(smtp, EMAIL)
        assert "new papers for" in digest["Subject"] and "reasoning" in digest["Subject"]
        html = digest.get_body(("html",)).get_content()
        prefs = re.search(r'href="([^"]+/preferences/[^"]+)"', html).group(1)

        page.goto(prefs)
        keywords = page.get_by_label("Keywords")
        assert keywords.input_value() == "reasoning\nlanguage model"
        keywords.fill("diffusion\nvideo generation ^2")
        page.get_by_label("Papers per digest, at most").fill("3")
        page.get_by_role("button", name="Save").click()
        page.get_by_text("Saved. The next digest uses these settings.").wait_for()
        assert page.get_by_label("Keywords").input_value() == "diffusion\nvideo generation ^2"
        preview = app.digest("preview", EMAIL, "--date", "2025-11-06")
        assert preview.returncode == 0, preview.stderr
        assert re.match(r"3 new papers for (diffusion|video generation)", preview.stdout)

        # The mail client's unsubscribe button: RFC 8058, a POST with no cookies and no page.
        https, mailto = re.findall(r"<([^>]+)>", digest["List-Unsubscribe"])
        assert digest["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        assert mailto.startswith("mailto:")
        answer = httpx.post(https, data={"List-Unsubscribe": "One-Click"})
        assert answer.status_code == 200

        second = app.digest("run", "--date", "2025-11-06")
        assert second.returncode == 0, second.stderr
        assert len(digests_to(smtp, EMAIL)) == 1  # nothing after the unsubscribe
        page.goto(prefs)
        page.get_by_role("heading", name="You are unsubscribed").wait_for()
        assert not problems, problems  # no CSP violation, no script error


@pytest.mark.parametrize("width", [375, 1024])
def test_less_like_this_asks_first_then_notes_and_is_undone_or_removed(
    tmp_path: Path, width: int
) -> None:
    email = "ada@example.org"
    with SMTPServer() as smtp, served(tmp_path, smtp) as app, chromium() as browser:
        confirmed(app, smtp, email, "10.9.0.1")
        run = app.digest("run", "--date", "2025-06-26")
        assert run.returncode == 0, run.stderr
        (digest,) = digests_to(smtp, email)
        mail = tmp_path / "digest.html"
        mail.write_text(digest.get_body(("html",)).get_content())

        # In the reader's mail client: the first card's title and its "Less like this" link.
        with opened(browser, mail, width, "light") as inbox:
            card = inbox.locator("td.card").first
            title = card.get_by_role("heading").inner_text().replace(ZWSP, "")
            link = card.get_by_role("link", name="Less like this", exact=True).get_attribute("href")
        assert re.fullmatch(re.escape(app.url) + r"/rate/[\w.\-]+", link), link

        page = browser.new_page(viewport={"width": width, "height": 900})
        problems: list[str] = []
        page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: problems.append(str(e)))

        def fits() -> bool:
            return page.evaluate("document.documentElement.scrollWidth") <= width

        # Opening the link (as a mail scanner would) only asks.
        page.goto(link)
        page.get_by_role("heading", name="Fewer papers like this?").wait_for()
        assert page.get_by_text(title, exact=True).is_visible()
        assert fits()
        assert ratings_of(app, email) == {}

        page.get_by_role("button", name="Less like this").click()
        page.get_by_role("heading", name="Noted").wait_for()
        assert title in page.get_by_role("status").inner_text()
        assert page.get_by_role("button", name="Undo").is_visible()
        assert fits()
        assert ratings_of(app, email) == {title: "less"}

        # The preferences page lists the rating; Remove takes it away.
        page.get_by_role("link", name="Your preferences and ratings").click()
        page.get_by_role("heading", name="Papers you rated").wait_for()
        (rated,) = page.locator(".ratings li").all()
        assert rated.locator(".verdict").text_content() == "Less like"
        assert rated.get_by_text(title, exact=True).is_visible()
        assert fits()
        rated.get_by_role("button", name="Remove").click()
        page.get_by_text("Rating removed.").wait_for()
        assert page.get_by_text("None yet").is_visible()
        assert page.get_by_text(title, exact=True).count() == 0
        assert ratings_of(app, email) == {}

        # Rated again from the same link, the page reloaded, then undone on the spot.
        page.goto(link)
        page.get_by_role("button", name="Less like this").click()
        page.get_by_role("heading", name="Noted").wait_for()
        assert ratings_of(app, email) == {title: "less"}
        page.reload()
        page.get_by_role("heading", name="Noted").wait_for()
        page.get_by_role("button", name="Undo").click()
        page.get_by_role("heading", name="Undone").wait_for()
        assert ratings_of(app, email) == {}
        assert not problems, problems  # no CSP violation, no script error
