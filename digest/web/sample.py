"""What a digest looks like, for someone deciding whether to subscribe: the bundled sample
day's best papers for the form's example keywords, composed by the digest's own composer and
templates (`/sample`), and shown in a frame on the subscribe page. Made once per process."""

from __future__ import annotations

import re
from datetime import date

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from ..compose.render import Composer, subject_line
from ..domain.digest import Digest
from ..domain.subscriber import Keyword, Subscriber
from ..rank.index import Listing
from ..rank.profile import compile_profile
from ..rank.select import rank
from ..sources.sample import SampleSource
from .site import HINT, Site

DAY = date(2025, 11, 6)  # a bundled sample day
PAPERS = 3
# Framed by this app's own subscribe page only; the email's styles are inline.
SAMPLE_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; "
    "frame-ancestors 'self'; base-uri 'none'"
)
_LINK = re.compile(r"<a href=")


def sample_html(site: Site) -> str:
    """The sample digest's HTML part, its links opening outside the frame."""
    sub = Subscriber(
        email="you@example.org", keywords=tuple(Keyword(k) for k in HINT[:3]), max_papers=PAPERS
    )
    papers = SampleSource().fetch(DAY)
    picked = rank(compile_profile(sub), Listing(papers))
    digest = Digest.decided(sub, DAY, picked[:PAPERS], "localhost")
    settings = site.settings
    html = Composer(settings.mail.sender, None, settings.templates_dir).page(
        digest, subject_line(digest)
    )
    return _LINK.sub('<a target="_blank" rel="noopener" href=', html)


def page(site: Site, _request: Request) -> Response:
    if site.sample is None:
        site.sample = sample_html(site)
    response = HTMLResponse(site.sample)
    response.headers["Content-Security-Policy"] = SAMPLE_CSP
    response.headers["X-Frame-Options"] = "SAMEORIGIN"
    response.headers["Cache-Control"] = "max-age=3600"
    return response
