"""A subscriber's whole life in headless Chromium against a real `digest serve`, with a real
SMTP server catching the mail: subscribe, confirm, get a digest, change keywords, leave with
the mail client's one-click unsubscribe, get nothing more. And the pages as a reader sees them
on a phone and a desktop, light and dark: one background on a phone, thumb-sized controls with
a visible focus ring, text and placeholders above WCAG AA contrast, the weekly day named."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from digest.compose.text import ZWSP
from tests.e2e.test_web import confirmed, ratings_of
from tests.support.needs_browser import require_chromium
from tests.support.served import Served, links_in, served, wait_for_mail
from tests.support.smtp import SMTPServer

require_chromium()

from playwright.sync_api import Browser, Page  # noqa: E402

from tests.support.browser import SCHEMES, chromium, opened, read  # noqa: E402
from tests.support.page_shots import WIDTHS as PAGE_WIDTHS  # noqa: E402
from tests.support.page_shots import subscriber  # noqa: E402

EMAIL = "lin@example.org"


def digests_to(smtp: SMTPServer, email: str) -> list:
    return [
        r.message
        for r in smtp.received
        if email in r.rcpt_tos and "Paper Digest subscription" not in r.message["Subject"]
    ]


@pytest.mark.usefixtures("database")  # on SQLite and on PostgreSQL (conftest.py)
@pytest.mark.parametrize("width", [375, 1024])
def test_subscribe_confirm_receive_change_keywords_unsubscribe(tmp_path: Path, width: int) -> None:
    with SMTPServer() as smtp, served(tmp_path, smtp) as app, chromium() as browser:
        page = browser.new_page(viewport={"width": width, "height": 900})
        problems: list[str] = []
        page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: problems.append(str(e)))

        page.goto(app.url + "/")
        page.get_by_label("Email").fill(EMAIL)
        page.get_by_label("Keywords", exact=True).fill("reasoning\nlanguage model")
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
        # the day's top paper, how many more, the day (compose/render.py subject_line)
        assert re.fullmatch(r".+ and \d+ more \(26 Jun\)", digest["Subject"]), digest["Subject"]
        html = digest.get_body(("html",)).get_content()
        prefs = re.search(r'href="([^"]+/preferences/[^"]+)"', html).group(1)

        page.goto(prefs)
        keywords = page.get_by_label("Keywords", exact=True)
        assert keywords.input_value() == "reasoning\nlanguage model"
        keywords.fill("diffusion\nvideo generation ^2")
        page.get_by_label("Papers per digest, at most").fill("3")
        page.get_by_role("button", name="Save").click()
        page.get_by_text("Saved. The next digest uses these settings.").wait_for()
        saved = page.get_by_label("Keywords", exact=True).input_value()
        assert saved == "diffusion\nvideo generation ^2"
        preview = app.digest("preview", EMAIL, "--date", "2025-11-06")
        assert preview.returncode == 0, preview.stderr
        subject = preview.stdout.splitlines()[0]
        # 3 picks at most (max_papers), then the 3 trending papers a new subscriber gets
        assert re.fullmatch(r".+ and 5 more \(6 Nov\)", subject), subject

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


@pytest.mark.usefixtures("database")
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


# --- the pages as a reader sees them: 375 px (a phone) and 1280 px, light and dark ----------

WEEKLY_DAY = "thursday"  # not the default Monday: the pages must read it from the settings

# Runs in the page: what a reader notices of its layout and controls. A colour's background is
# the first opaque one behind it; the canvas is the <html> element's, else the <body>'s.
LOOK = """
() => {
  const opaque = el => {
    for (let e = el; e; e = e.parentElement) {
      const c = getComputedStyle(e).backgroundColor, a = c.match(/[\\d.]+/g).map(Number);
      if (a.length < 4 || a[3] > 0.99) return c;
    }
    return 'rgb(255, 255, 255)';
  };
  const shown = el => {
    const r = el.getBoundingClientRect(), s = getComputedStyle(el);
    return r.width > 0 && r.height > 0 && s.visibility !== 'hidden' && s.display !== 'none';
  };
  const html = getComputedStyle(document.documentElement).backgroundColor;
  const main = document.querySelector('main'), box = main.getBoundingClientRect();
  // a link alone in its paragraph is a control; one inside a sentence is not (WCAG 2.5.8)
  const alone = a => a.parentElement.textContent.trim() === a.textContent.trim();
  const controls = [...document.querySelectorAll(
    'input:not([type=hidden]), textarea, select, button, a[href]')]
    .filter(el => shown(el) && (el.tagName !== 'A' || alone(el)))
    .map(el => {
      // a radio button or a checkbox is tapped anywhere on its label
      const t = ['radio', 'checkbox'].includes(el.type) ? el.closest('label') || el : el;
      const r = t.getBoundingClientRect();
      return {what: el.outerHTML.slice(0, 90), width: r.width, height: r.height};
    });
  const fields = [...document.querySelectorAll('[placeholder]')].map(el => ({
    placeholder: el.placeholder,
    color: getComputedStyle(el, '::placeholder').color,
    typed: getComputedStyle(el).color,
    background: opaque(el),
  }));
  return {
    canvas: html.match(/[\\d.]+/g).map(Number)[3] === 0
      ? getComputedStyle(document.body).backgroundColor : html,
    main: opaque(main),
    left: box.left, right: window.innerWidth - box.right, width: box.width,
    scrollWidth: document.documentElement.scrollWidth,
    controls, fields,
  };
}
"""

# Runs in the page after a Tab: the focused control's ring (its outline, or its label's), and
# the background the ring is drawn over.
RING = """
() => {
  const el = document.activeElement;
  if (!el || el === document.body) return null;
  const opaque = el => {
    for (let e = el; e; e = e.parentElement) {
      const c = getComputedStyle(e).backgroundColor, a = c.match(/[\\d.]+/g).map(Number);
      if (a.length < 4 || a[3] > 0.99) return c;
    }
    return 'rgb(255, 255, 255)';
  };
  const ringed = [el, el.closest('label')].find(
    e => e && getComputedStyle(e).outlineStyle !== 'none'
      && parseFloat(getComputedStyle(e).outlineWidth) > 0) || el;
  const s = getComputedStyle(ringed);
  return {what: el.outerHTML.slice(0, 90), style: s.outlineStyle,
          width: parseFloat(s.outlineWidth), color: s.outlineColor,
          background: opaque(ringed.parentElement)};
}
"""


def luminance(css: str) -> float:
    def channel(c: float) -> float:
        c /= 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (float(x) for x in re.findall(r"[\d.]+", css)[:3])
    return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b)


def contrast(fg: str, bg: str) -> float:
    """WCAG 2.x contrast ratio of two computed CSS colours (rgb/rgba, alpha ignored)."""
    light, dark = sorted((luminance(fg), luminance(bg)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


@pytest.fixture(scope="module")
def pages(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Served, str, Browser]]:
    """One `digest serve` whose weekly digests go out on Thursdays, with a subscriber who rated
    a paper (as `make screenshots` makes them); its preferences path; a browser."""
    workdir = tmp_path_factory.mktemp("pages")
    with (
        SMTPServer() as smtp,
        served(workdir, smtp, DIGEST_WEEKLY_DAY=WEEKLY_DAY) as app,
        chromium() as browser,
    ):
        yield app, subscriber(app, smtp), browser


def view(browser: Browser, url: str, width: int, scheme: str) -> Page:
    context = browser.new_context(
        viewport={"width": width, "height": 812 if width < 480 else 900}, color_scheme=scheme
    )
    page = context.new_page()
    page.goto(url)
    return page


def looked(page: Page) -> dict[str, Any]:
    return page.evaluate(LOOK)


def short_page(app: Served) -> str:
    """A page of one message, far shorter than a phone's screen: a link that is no longer
    valid."""
    return app.url + "/preferences/not-a-valid-token"


@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize("width", PAGE_WIDTHS)
def test_a_phone_shows_one_background_and_a_desktop_a_centred_column(
    pages: tuple[Served, str, Browser], width: int, scheme: str
) -> None:
    app, prefs, browser = pages
    for url in (app.url + "/", app.url + prefs, short_page(app)):
        page = view(browser, url, width, scheme)
        try:
            look = looked(page)
        finally:
            page.context.close()
        assert look["scrollWidth"] <= width, url
        if width <= 480:
            # no second colour around or below the card, however short the page
            assert look["canvas"] == look["main"], (url, look["canvas"], look["main"])
        else:
            assert abs(look["left"] - look["right"]) <= 1, url  # centred
            assert 480 <= look["width"] <= 720, (url, look["width"])  # a readable measure


@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize("width", PAGE_WIDTHS)
def test_every_control_is_a_thumb_sized_target_with_a_visible_focus_ring(
    pages: tuple[Served, str, Browser], width: int, scheme: str
) -> None:
    app, prefs, browser = pages
    for url in (app.url + "/", app.url + prefs, short_page(app)):
        page = view(browser, url, width, scheme)
        try:
            controls = looked(page)["controls"]
            assert controls, url
            small = [c for c in controls if c["height"] < 44 or c["width"] < 44]
            assert small == [], f"tap targets under 44 px on {url}: {small[:3]}"

            # Tab through the page as a keyboard user: each stop shows a ring of 2 px or more
            # that stands out 3:1 from what is around it (WCAG 2.4.7, 1.4.11).
            seen: list[str] = []
            for _ in range(len(controls) + 2):
                page.keyboard.press("Tab")
                ring = page.evaluate(RING)
                if ring is None or ring["what"] in seen:
                    break
                seen.append(ring["what"])
                assert ring["style"] not in ("none", "auto") and ring["width"] >= 2, ring
                assert contrast(ring["color"], ring["background"]) >= 3, ring
            assert len(seen) >= min(len(controls), 3), (url, seen)
        finally:
            page.context.close()


@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize("width", PAGE_WIDTHS)
def test_text_errors_and_placeholders_read_and_a_placeholder_is_not_an_answer(
    pages: tuple[Served, str, Browser], width: int, scheme: str
) -> None:
    app, prefs, browser = pages
    page = view(browser, app.url + "/", width, scheme)
    try:
        (keywords,) = looked(page)["fields"]
        # an example, said to be one, in a colour lighter than typed text yet readable
        assert keywords["placeholder"].startswith("e.g. "), keywords
        hint = contrast(keywords["color"], keywords["background"])
        typed = contrast(keywords["typed"], keywords["background"])
        assert 4.5 <= hint < typed, keywords
        assert read(page, width, scheme).low_contrast() == []

        # sent with two mistakes: each message beside its field, readable too
        page.locator("form").evaluate("form => { form.noValidate = true; }")
        page.get_by_label("Email").fill("nobody")
        page.get_by_role("button", name="Subscribe").click()
        page.get_by_text("Not subscribed yet").wait_for()
        assert page.locator(".field-error").count() == 2
        assert read(page, width, scheme).low_contrast() == []

        page.goto(app.url + prefs)
        assert read(page, width, scheme).low_contrast() == []
        page.goto(short_page(app))
        assert read(page, width, scheme).low_contrast() == []
    finally:
        page.context.close()


@pytest.mark.parametrize("width", PAGE_WIDTHS)
def test_the_weekly_choice_names_the_day_it_comes(
    pages: tuple[Served, str, Browser], width: int
) -> None:
    app, prefs, browser = pages
    page = view(browser, app.url + "/", width, "light")
    try:
        weekly = page.get_by_label("Once a week, on Thursdays: the week's best", exact=True)
        assert weekly.is_visible()
        weekly.check()  # the label is the control
        assert weekly.is_checked()
        page.goto(app.url + prefs)
        assert page.get_by_label("Once a week, on Thursdays").is_visible()
    finally:
        page.context.close()


@pytest.mark.parametrize("width", PAGE_WIDTHS)
def test_the_subscribe_page_shows_what_a_digest_looks_like(
    pages: tuple[Served, str, Browser], width: int
) -> None:
    """A sample digest, composed by the digest's own templates, framed below the form: its
    cards read whole and its links open outside the frame."""
    app, _, browser = pages
    page = view(browser, app.url + "/", width, "light")
    try:
        frame_box = page.locator("section.sample iframe")
        frame_box.scroll_into_view_if_needed()
        assert frame_box.is_visible()
        frame = page.frame_locator("section.sample iframe")
        titles = frame.locator("h2.title a")
        titles.first.wait_for()
        assert titles.count() == 3
        assert all(t.strip() for t in titles.all_inner_texts())
        assert frame.locator("td.card").first.bounding_box()["width"] > 200
        targets = {a.get_attribute("target") for a in frame.locator("a[href]").all()}
        assert targets == {"_blank"}
        below_form = page.locator("form").bounding_box()
        assert frame_box.bounding_box()["y"] > below_form["y"] + below_form["height"]
    finally:
        page.context.close()


@pytest.mark.parametrize("width", PAGE_WIDTHS)
def test_past_digests_open_in_the_browser_and_the_feed_is_linked(
    pages: tuple[Served, str, Browser], width: int
) -> None:
    """From the preferences page: the archive lists the digest sent, which opens as a page
    of whole cards with no sideways scroll; the feed link is a feed."""
    app, prefs, browser = pages
    page = view(browser, app.url + prefs, width, "light")
    try:
        feed_url = page.get_by_role("link", name="your private feed").get_attribute("href")
        page.get_by_role("link", name="Your past digests").click()
        page.wait_for_url("**/archive/**")
        digests = page.locator("ul.archive li a")
        assert digests.count() == 1
        digests.first.click()
        page.wait_for_url("**/view/**")
        titles = page.locator("td.card h2.title a")
        assert titles.count() >= 3 and all(t.strip() for t in titles.all_inner_texts())
        width_seen = page.evaluate("document.documentElement.scrollWidth")
        assert width_seen <= width, f"scrolls sideways: {width_seen} > {width}"
        feed = page.request.get(feed_url)
        assert feed.status == 200
        assert feed.headers["content-type"].startswith("application/atom+xml")
        assert b"<entry>" in feed.body() or b"<entry " in feed.body()
    finally:
        page.context.close()
