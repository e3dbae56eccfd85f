"""The digest as a reader sees it: headless Chromium at phone and desktop widths, light and dark.

Hostile content (LaTeX, CJK and Arabic titles, unbroken words, long URLs, markup) must not
break the layout: no horizontal scroll, every title whole on screen, every link there, body
text above WCAG AA contrast. The showcase digest of the README's screenshots is checked too.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from digest.compose.render import Composed
from digest.compose.text import ZWSP, plain_math
from tests.support.listings import hf_item
from tests.support.needs_browser import require_chromium

require_chromium()

from playwright.sync_api import Browser  # noqa: E402

from tests.support.browser import SCHEMES, WIDTHS, Reading, chromium, opened, read  # noqa: E402
from tests.support.screenshots import TRENDING, preview_of, screenshots, showcase  # noqa: E402

LONG_URL = "https://example.org/" + "very-long-path-segment-" * 12 + "end"
UNBROKEN = "Pneumonoultramicroscopicsilicovolcanoconiosis" * 4
ABSTRACT = (
    "We study world models for long-horizon control and show how learned dynamics "
    "support planning under uncertainty across many domains. "
) * 12


def hostile_items() -> list[dict[str, Any]]:
    authors = [{"name": f"Author {chr(65 + i)}. Surname{i}"} for i in range(25)]
    return [
        hf_item(
            "2511.00001",
            r"Regret of $O(\sqrt{T})$ for World Models under $\epsilon$-Greedy Exploration",
            ABSTRACT,
            authors=authors,
            upvotes=321,
            githubRepo="https://github.com/example-lab/regret-world-models",
            githubStars=12345,
            projectPage="https://example-lab.github.io/regret/",
            organization={"fullname": "Institute for Extraordinarily Long Organization Names"},
            ai_summary=r"World models reach $O(\sqrt{T})$ regret with $\epsilon$-greedy play.",
        ),
        hf_item(
            "2511.00002",
            "世界模型：用于机器人操作的可扩展强化学习方法 world model",
            "世界模型" * 300,
        ),
        hf_item(
            "2511.00003", "نماذج العالم للتعلم المعزز العميق world model", "نموذج العالم " * 120
        ),
        hf_item(
            "2511.00004",
            f"{UNBROKEN} World Model",
            f"A world model with code at {LONG_URL} and the identifier {UNBROKEN * 2}. {ABSTRACT}",
            authors=[{"name": UNBROKEN}],
            projectPage=LONG_URL,
        ),
        hf_item(
            "2511.00005",
            '<script>alert(1)</script> World Models & "Friends" <img src=x onerror=alert(1)>',
            "A <b>world model</b> abstract with <a href='javascript:alert(1)'>markup</a>.",
            upvotes=1,
        ),
        hf_item(
            "2511.00006",
            "🤖 World Models, Ünïcödé and Combining Marks: Z̵̧a̷l̶g̴o̴ Across Scripts",
            ABSTRACT,
        ),
    ]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as b:
        yield b


@pytest.fixture(scope="module")
def digests(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, Composed]]:
    made = {}
    hostile = preview_of(
        tmp_path_factory.mktemp("hostile"),
        hostile_items(),
        '[[subscriber]]\nemail = "ada@example.org"\nkeywords = ["world model"]\nmax_papers = 25\n',
    )
    shown = showcase(tmp_path_factory.mktemp("showcase"))
    hot = showcase(tmp_path_factory.mktemp("trending"), TRENDING)
    for name, composed in (("hostile", hostile), ("showcase", shown), ("trending", hot)):
        page = tmp_path_factory.mktemp(name) / "digest.html"
        page.write_text(composed.html, encoding="utf-8")
        made[name] = (page, composed)
    return made


def reading(browser: Browser, page_file: Path, width: int, scheme: str) -> Reading:
    with opened(browser, page_file, width, scheme) as page:
        assert page.requests_refused == []  # type: ignore[attr-defined]
        return read(page, width, scheme)


def flat(text: str) -> str:
    return " ".join(text.replace(ZWSP, "").split())


@pytest.mark.parametrize("which", ["hostile", "showcase", "trending"])
@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("width", [375, 800])
def test_a_reader_sees_every_paper_whole(
    browser: Browser,
    digests: dict[str, tuple[Path, Composed]],
    which: str,
    width: int,
    scheme: str,
) -> None:
    page_file, composed = digests[which]
    papers = [r.paper for r in (*composed.digest.papers, *composed.digest.trending)]
    assert len(papers) >= 6
    r = reading(browser, page_file, width, scheme)

    assert r.scroll_width <= r.viewport, f"scrolls sideways: {r.scroll_width} > {r.viewport}"

    shown = {flat(t["text"]): t for t in r.titles}
    for paper in papers:
        title = shown.get(flat(plain_math(paper.title)))
        assert title is not None, f"title missing: {paper.title!r}"
        assert title["visible"] and title["height"] > 0
        assert title["left"] >= 0 and title["right"] <= r.viewport, f"off screen: {title}"
        assert not title["clipped"], f"cut off: {title['text']!r}"

    assert r.active == 0, "the listing's markup became elements"
    assert all(link["href"].startswith(("https://", "mailto:")) for link in r.links)
    hrefs = {link["href"] for link in r.links if link["visible"]}
    for paper in papers:
        for url in (paper.url, paper.pdf_url, paper.code_url, paper.project_url):
            assert url is None or url in hrefs, f"link missing: {url}"
    assert any("unsubscribe" in h for h in hrefs)

    assert r.low_contrast() == [], f"text below WCAG AA: {r.low_contrast()[:3]}"
    dark_page = r.background in ("rgb(11, 15, 23)",)
    assert dark_page == (scheme == "dark"), f"{scheme} mode shows background {r.background}"


# A phone's screen, in CSS pixels (iPhone X to 13 mini: 375 x 812).
PHONE = {"width": 375, "height": 812}


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("width", [375, 800])
def test_cards_can_be_scanned_on_a_phone_and_every_link_is_a_thumbs_width(
    browser: Browser, digests: dict[str, tuple[Path, Composed]], width: int, scheme: str
) -> None:
    """The showcase's 10 papers: title first on each card, the first screen holds the header
    and at least two whole cards, the whole digest about 2.5 screens (2.7 at most), and every
    link of a card at least 44 px tall."""
    page_file, composed = digests["showcase"]
    assert len(composed.digest.papers) == 10
    with opened(browser, page_file, width, scheme) as page:
        page.set_viewport_size({"width": width, "height": PHONE["height"]})
        cards = page.eval_on_selector_all(
            "td.card",
            """els => els.map(e => ({bottom: e.getBoundingClientRect().bottom,
                first: e.querySelector('*').className}))""",
        )
        links = page.eval_on_selector_all(
            "td.card .links a, td.more a",
            "els => els.map(e => [e.textContent, e.getBoundingClientRect().height])",
        )
        height = page.evaluate("document.documentElement.scrollHeight")
    assert len(cards) == 10 and {c["first"] for c in cards} == {"title"}
    assert links and all(h >= 44 for _, h in links), links
    if width == 375:
        assert cards[1]["bottom"] <= PHONE["height"], "two whole cards on the first screen"
        assert height / PHONE["height"] <= 2.7, f"{height} px: {height / 812:.2f} screens"


def test_the_trending_section_follows_the_picks_with_its_upvotes(
    browser: Browser, digests: dict[str, tuple[Path, Composed]]
) -> None:
    page_file, composed = digests["trending"]
    d = composed.digest
    assert len(d.papers) == 3 and len(d.trending) == 3
    with opened(browser, page_file, 375, "light") as page:
        rows = page.eval_on_selector_all(
            "td.card, td.section",
            "els => els.map(e => [e.className, e.innerText])",
        )
    kinds = [kind for kind, _ in rows]
    assert kinds == ["card"] * 3 + ["section"] + ["card"] * 3
    assert rows[3][1].lower().startswith("trending today")
    for (_, text), r in zip(rows[4:], d.trending, strict=True):
        assert f"{r.paper.upvotes} upvote" in text  # however few: they are why it is there
    votes = [r.paper.upvotes for r in d.trending]
    assert votes == sorted(votes, reverse=True)


def test_math_is_read_and_links_stay_whole_in_text(
    digests: dict[str, tuple[Path, Composed]],
) -> None:
    _, composed = digests["hostile"]
    assert "Regret of O(√(T)) for World Models under ϵ-Greedy" in flat(composed.text)
    assert "$O(" not in composed.html and "O(√(T))" in composed.html
    assert LONG_URL in composed.text.split()  # never broken across lines


def test_screenshots_are_written(
    browser: Browser, digests: dict[str, tuple[Path, Composed]], tmp_path: Path
) -> None:
    _, composed = digests["showcase"]
    shots = screenshots(composed, tmp_path, browser)
    assert sorted(p.name for p in shots) == sorted(
        f"digest-{w}-{s}.png" for w in WIDTHS for s in SCHEMES
    )
    for shot in shots:
        assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 10_000
