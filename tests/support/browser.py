"""Open a composed email in Debian's headless Chromium (driven by Playwright, no browser
download) and measure what a reader would notice."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from playwright.sync_api import Browser, Page, Route, sync_playwright

# What Chromium needs to start as root, offline, without a GPU, touching nothing outside.
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
WIDTHS = (375, 800)
SCHEMES = ("light", "dark")


def chromium_path() -> str | None:
    return (
        os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    )


@contextmanager
def chromium() -> Iterator[Browser]:
    path = chromium_path()
    if path is None:
        raise RuntimeError("no chromium on PATH: apt-get install chromium (or set CHROMIUM)")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=path, args=CHROMIUM_FLAGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()


@contextmanager
def opened(browser: Browser, html: Path, width: int, scheme: str) -> Iterator[Page]:
    """`html` as a mail client on a `width`-pixel screen in `scheme` shows it; every request
    other than the file itself is refused and recorded in page.requests_refused."""
    context = browser.new_context(
        viewport={"width": width, "height": 900}, color_scheme=scheme, device_scale_factor=1
    )
    refused: list[str] = []

    def only_the_file(route: Route) -> None:
        if route.request.url.startswith("file://"):
            route.continue_()
        else:
            refused.append(route.request.url)
            route.abort()

    context.route("**/*", only_the_file)
    page = context.new_page()
    page.goto(html.resolve().as_uri())
    page.requests_refused = refused  # type: ignore[attr-defined]
    try:
        yield page
    finally:
        context.close()


# Runs in the page. Contrast follows WCAG 2.x: relative luminance of the text colour against
# the first opaque background behind it; 4.5:1 for body text, 3:1 for large text.
READ_PAGE = """
() => {
  const lin = c => { c /= 255; return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4; };
  const lum = ([r, g, b]) => 0.2126 * lin(r) + 0.7152 * lin(g) + 0.0722 * lin(b);
  const rgba = s => {
    const m = s.match(/[\\d.]+/g).map(Number);
    return [m[0], m[1], m[2], m.length > 3 ? m[3] : 1];
  };
  const background = el => {
    for (let e = el; e; e = e.parentElement) {
      const c = rgba(getComputedStyle(e).backgroundColor);
      if (c[3] > 0.99) return c;
    }
    return [255, 255, 255, 1];
  };
  const visible = el => {
    const r = el.getBoundingClientRect(), s = getComputedStyle(el);
    return r.width > 0 && r.height > 0 && s.visibility !== 'hidden' && s.display !== 'none'
      && +s.opacity > 0;
  };
  const texts = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    const el = n.parentElement, text = n.textContent.trim();
    if (!text || !visible(el)) continue;
    const s = getComputedStyle(el), fg = rgba(s.color), bg = background(el);
    const [l1, l2] = [lum(fg), lum(bg)].sort((a, b) => b - a);
    const size = parseFloat(s.fontSize), bold = +s.fontWeight >= 700;
    texts.push({text: text.slice(0, 60), ratio: (l1 + 0.05) / (l2 + 0.05),
                large: size >= 24 || (size >= 18.66 && bold), color: s.color});
  }
  const box = el => { const r = el.getBoundingClientRect();
    return {left: r.left, right: r.right, width: r.width, height: r.height,
            clipped: el.scrollWidth > el.clientWidth + 1}; };
  return {
    viewport: window.innerWidth,
    scrollWidth: document.documentElement.scrollWidth,
    titles: [...document.querySelectorAll('h2')].map(
      h => ({text: h.innerText, visible: visible(h), ...box(h)})),
    links: [...document.querySelectorAll('a[href]')].map(
      a => ({href: a.href, text: a.innerText, visible: visible(a)})),
    texts,
    active: document.querySelectorAll('script, img, iframe, object, embed, form').length,
    background: getComputedStyle(document.body).backgroundColor,
  };
}
"""


@dataclass(frozen=True)
class Reading:
    width: int
    scheme: str
    viewport: int
    scroll_width: int
    titles: list[dict[str, Any]]
    links: list[dict[str, Any]]
    texts: list[dict[str, Any]]
    active: int  # elements that run, load or submit something: a digest has none
    background: str

    def low_contrast(self) -> list[dict[str, Any]]:
        return [t for t in self.texts if t["ratio"] < (3.0 if t["large"] else 4.5)]


def read(page: Page, width: int, scheme: str) -> Reading:
    r = page.evaluate(READ_PAGE)
    return Reading(
        width,
        scheme,
        r["viewport"],
        r["scrollWidth"],
        r["titles"],
        r["links"],
        r["texts"],
        r["active"],
        r["background"],
    )
