"""`make screenshots`: the showcase digest in headless Chromium at phone and desktop widths, in
light and dark mode, as PNGs a person can look at (the README shows two of them).

The showcase is the bundled sample day plus one real Hugging Face item in its full shape
(authors, organization, GitHub stars, AI summary, code and project links), composed through
`pipeline.preview` exactly as `digest preview` does.
"""

from __future__ import annotations

import json
import sys
import tempfile
from datetime import date
from pathlib import Path
from typing import Any

from playwright.sync_api import Browser

from digest.compose.render import Composed
from digest.jobs import inspect
from digest.settings import load_settings
from digest.sources.sample import SampleSource, sample_dir
from tests.support.browser import SCHEMES, WIDTHS, chromium, opened
from tests.support.listings import FIXTURES

DAY = date(2025, 11, 6)
READER = "ada@example.org"
PROFILE = """
[[subscriber]]
email = "ada@example.org"
name = "Ada Lovelace"
keywords = ["world model", "robot", "in-context learning", "vision-language model"]
authors = ["Marco Garosi"]
max_papers = 10
"""


def preview_of(workdir: Path, items: list[dict[str, Any]], profile: str) -> Composed:
    """What `digest preview ada@example.org` composes from `items` listed on DAY, for the
    subscriber file `profile`, with a fresh store in `workdir`."""
    days = workdir / "listing"
    days.mkdir(parents=True, exist_ok=True)
    (days / f"{DAY}.json").write_text(json.dumps(items), encoding="utf-8")
    (workdir / "subscribers.toml").write_text(profile, encoding="utf-8")
    settings = load_settings(
        {
            "DIGEST_DATABASE_URL": f"sqlite:///{workdir / 'digest.db'}",
            "DIGEST_SUBSCRIBERS": str(workdir / "subscribers.toml"),
            "DIGEST_FROM": "Paper Digest <digest@papers.example>",
            "DIGEST_BASE_URL": "https://digest.example.org",
            "DIGEST_SECRET_KEY": "showcase-" * 4,
        },
        dotenv_path=None,
    )
    _, composed = inspect.preview(settings, READER, DAY, sources=[SampleSource(days)])
    assert composed is not None, "the profile matched nothing"
    return composed


def showcase(workdir: Path, profile: str = PROFILE) -> Composed:
    listing = json.loads((sample_dir() / f"{DAY}.json").read_text(encoding="utf-8"))
    listing.append(json.loads((FIXTURES / "hf-item-example.json").read_text()))
    return preview_of(workdir, listing, profile)


# The showcase reader with a trending section: three picks, then the day's three most upvoted.
TRENDING = PROFILE.replace("max_papers = 10", "max_papers = 3\ntrending = 3")


def screenshots(
    composed: Composed, out: Path, browser: Browser, name: str = "digest"
) -> list[Path]:
    """One full-page PNG per width and colour scheme, named NAME-WIDTH-SCHEME.png."""
    out.mkdir(parents=True, exist_ok=True)
    page_file = out / f"{name}.html"
    page_file.write_text(composed.html, encoding="utf-8")
    written = []
    for width in WIDTHS:
        for scheme in SCHEMES:
            with opened(browser, page_file, width, scheme) as page:
                shot = out / f"{name}-{width}-{scheme}.png"
                page.screenshot(path=str(shot), full_page=True)
                written.append(shot)
    page_file.unlink()
    return written


def _written(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def main(argv: list[str]) -> int:
    out = Path(argv[0] if argv else "docs/screenshots")
    with tempfile.TemporaryDirectory() as tmp, chromium() as browser:
        for shot in screenshots(showcase(Path(tmp)), out, browser):
            print(shot)
        hot = showcase(Path(tmp) / "trending", TRENDING)
        with opened(browser, _written(out / "trending.html", hot.html), 375, "light") as page:
            page.screenshot(path=str(out / "digest-trending-375-light.png"), full_page=True)
        (out / "trending.html").unlink()
        print(out / "digest-trending-375-light.png")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
