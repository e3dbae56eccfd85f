"""`make screenshots` (the subscriber pages): the subscribe page and a subscriber's preferences
page, served by a real `digest serve` with a real SMTP server catching its mail, in headless
Chromium at phone and desktop widths, light and dark, as docs/screenshots/pages-PAGE-WIDTH-
SCHEME.png (the README shows two of them).

The subscriber is made as a visitor would make them: subscribed through the form, confirmed from
the mailed link, sent a digest of the bundled sample day, and one of its papers rated "more
like this", so the preferences page shows a filled-in form and a rating.

    python -m tests.support.page_shots docs/screenshots
"""

from __future__ import annotations

import re
import sys
import tempfile
from pathlib import Path

from playwright.sync_api import Browser

from tests.support.browser import SCHEMES, chromium
from tests.support.served import Client, Served, links_in, mail_to, served, wait_for_mail
from tests.support.smtp import SMTPServer

WIDTHS = (375, 1280)
HEIGHT = {375: 812, 1280: 900}  # a phone's screen, a laptop's window
DAY = "2025-11-06"
READER = "ada@example.org"
PROFILE = {
    "email": READER,
    "name": "Ada Lovelace",
    "keywords": "world model\nrobot ^2\nin-context learning\nvision-language model",
    "frequency": "weekly",
}
RATE = re.compile(r"^ +More like this: +(\S+)$", re.M)


def subscriber(app: Served, smtp: SMTPServer) -> str:
    """Subscribe, confirm and rate one paper of a digest as READER; the preferences path."""
    client = Client(app.url, forwarded_for="10.1.0.1")
    fields = {k: v for k, v in PROFILE.items() if k != "email"}
    assert client.subscribe(READER, **fields).status_code == 200
    (link,) = links_in(wait_for_mail(smtp, READER)[-1])
    done = client.submit(link.removeprefix(app.url))
    assert done.status_code == 200 and "You are subscribed" in done.text, done.text
    found = re.search(r'href="[^"]*(/preferences/[^"]+)"', done.text)
    assert found, done.text
    prefs = found.group(1)
    settled = client.submit(
        prefs,
        name=PROFILE["name"],
        keywords=PROFILE["keywords"],
        authors="Marco Garosi",
        max_papers="8",
        frequency="daily",
    )
    assert settled.status_code == 303, settled.text
    run = app.digest("run", "--date", DAY)
    assert run.returncode == 0, run.stderr
    text = next(t for t in mail_to(smtp, READER) if "More like this:" in t)
    more = RATE.findall(text.replace("\r\n", "\n"))
    assert more, text
    assert client.submit(more[0].removeprefix(app.url)).status_code == 303
    return prefs


def shoot(browser: Browser, url: str, shot: Path, width: int, scheme: str) -> Path:
    context = browser.new_context(
        viewport={"width": width, "height": HEIGHT[width]},
        color_scheme=scheme,
        device_scale_factor=1,
    )
    try:
        page = context.new_page()
        page.goto(url)
        page.screenshot(path=str(shot), full_page=True)
    finally:
        context.close()
    return shot


def screenshots(app: Served, prefs: str, out: Path, browser: Browser) -> list[Path]:
    """One full-page PNG per page, width and colour scheme, named pages-PAGE-WIDTH-SCHEME.png."""
    out.mkdir(parents=True, exist_ok=True)
    pages = {"subscribe": app.url + "/", "preferences": app.url + prefs}
    return [
        shoot(browser, url, out / f"pages-{name}-{width}-{scheme}.png", width, scheme)
        for name, url in pages.items()
        for width in WIDTHS
        for scheme in SCHEMES
    ]


def main(argv: list[str]) -> int:
    out = Path(argv[0] if argv else "docs/screenshots")
    with (
        tempfile.TemporaryDirectory() as tmp,
        SMTPServer() as smtp,
        served(Path(tmp), smtp) as app,
        chromium() as browser,
    ):
        prefs = subscriber(app, smtp)
        for shot in screenshots(app, prefs, out, browser):
            print(shot)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
