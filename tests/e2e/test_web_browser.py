"""A subscriber's whole life in headless Chromium against a real `digest serve`, with a real
SMTP server catching the mail: subscribe, confirm, get a digest, change keywords, leave with
the mail client's one-click unsubscribe, get nothing more."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest

from tests.support.needs_browser import require_chromium
from tests.support.served import links_in, served, wait_for_mail
from tests.support.smtp import SMTPServer

require_chromium()

from tests.support.browser import chromium  # noqa: E402

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
