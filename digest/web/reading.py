"""A subscriber's digests outside their inbox, each behind a signed link of its own: one
digest as a web page (`/view/<token>`, "view in browser", with every paper that matched),
their archive of past digests (`/archive/<token>`) and a private Atom feed of the papers
they were sent (`/feed/<token>`). The links do not expire (a feed reader keeps its URL for
years); they answer 410 once the subscription ends, and unsubscribing revokes every one
made before it, so an old forwarded link does not follow the reader into a new
subscription."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, time
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from ..domain.digest import Digest
from ..domain.paper import Paper
from ..domain.subscriber import ACTIVE, Subscription
from ..domain.text import one_line
from ..errors import BadToken
from ..jobs.visitors import Reread
from ..store.sent import Sent
from .site import Site

ARCHIVE_SHOWN = 100  # digests on the archive page
FEED_DIGESTS = 30  # the latest digests whose papers the feed holds
ATOM = "http://www.w3.org/2005/Atom"
# The web view is the email's own HTML: its styles are inline, as mail clients need them.
VIEW_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)


def _reader(site: Site, request: Request, purpose: str) -> tuple[Subscription, list] | Response:
    """Who a reading link names, or why it no longer works: 404 for a link that was never
    ours, 410 for a subscription that ended (or a link made before its last unsubscribe)."""
    try:
        payload, issued = site.signer.read(purpose, request.path_params["token"])
    except BadToken:
        return _gone(site, request, purpose, 404, "This link is not valid.")
    current = site.visitors.find(payload[0]) if isinstance(payload[0], str) else None
    revoked = current is not None and current.unsubscribed_at is not None
    if (
        current is None
        or current.status != ACTIVE
        or (revoked and issued < current.unsubscribed_at)
    ):
        return _gone(site, request, purpose, 410, "This subscription has ended.")
    return current, payload


def _gone(site: Site, request: Request, purpose: str, status: int, why: str) -> Response:
    if purpose == "feed":  # a feed reader shows the status; a person may read the text
        return Response(f"{why}\n", status_code=status, media_type="text/plain")
    return site.page(request, "message", status, title="That did not work", text=why)


def view(site: Site, request: Request) -> Response:
    """One digest as a web page: the HTML part as sent, then what it passed over."""
    reader = _reader(site, request, "view")
    if isinstance(reader, Response):
        return reader
    current, payload = reader
    message_id = payload[1] if len(payload) > 1 and isinstance(payload[1], str) else ""
    found: Reread | None = site.visitors.digest_sent(current, message_id)
    if found is None:
        return _gone(site, request, "view", 404, "This digest is not kept any more.")
    sent = found.sent
    digest = Digest(
        current.subscriber,
        sent.day,
        tuple(found.papers),
        sent.message_id,
        passed_over=tuple(r.paper.key for r in found.passed_over),
        trending=tuple(found.trending),
    )
    html = site.composer().page(digest, sent.subject, found.passed_over)
    response = HTMLResponse(html)
    response.headers["Content-Security-Policy"] = VIEW_CSP
    return response


def archive(site: Site, request: Request) -> Response:
    reader = _reader(site, request, "archive")
    if isinstance(reader, Response):
        return reader
    current, _ = reader
    sent = site.visitors.sent(current, ARCHIVE_SHOWN)
    links = site.links
    return site.page(
        request,
        "archive",
        member=current,
        digests=[(s, links.view(current.uid, s.message_id)) for s in sent],
        shown=ARCHIVE_SHOWN,
        feed_url=links.feed(current.uid),
        preferences_url=links.preferences(current.uid),
    )


def feed(site: Site, request: Request) -> Response:
    """The papers of the subscriber's latest digests as Atom 1.0 (RFC 4287), newest first."""
    reader = _reader(site, request, "feed")
    if isinstance(reader, Response):
        return reader
    current, _ = reader
    sent = site.visitors.sent(current, FEED_DIGESTS)
    papers = site.visitors.sent_papers([k for s in sent for k in s.papers])
    body = atom(
        current, sent, papers, site.links.feed(current.uid), site.links.archive(current.uid)
    )
    return Response(body, media_type="application/atom+xml; charset=utf-8")


# Characters XML 1.0 cannot carry at all (controls, lone surrogates, U+FFFE/FFFF).
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _text(value: str) -> str:
    return _NOT_XML.sub("", one_line(value))


def _stamp(s: Sent) -> str:
    when = s.sent_at or datetime.combine(s.day, time(), UTC)
    return when.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def atom(
    current: Subscription, sent: list[Sent], papers: dict[str, Paper], self_url: str, home: str
) -> bytes:
    """The feed document. Every value is set as text on an element, so ElementTree escapes
    it: a title holding markup stays text."""
    ET.register_namespace("", ATOM)

    def el(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
        node = ET.SubElement(parent, f"{{{ATOM}}}{tag}", attrs)
        if text is not None:
            node.text = _text(text)
        return node

    root = ET.Element(f"{{{ATOM}}}feed")
    el(root, "title", "Paper Digest for " + (current.subscriber.name or current.email))
    el(root, "subtitle", "The papers your daily digest sent you, newest first.")
    el(root, "id", f"urn:paper-digest:feed:{current.uid}")
    el(root, "updated", _stamp(sent[0]) if sent else "1970-01-01T00:00:00Z")
    el(root, "link", rel="self", href=self_url, type="application/atom+xml")
    el(root, "link", rel="alternate", href=home, type="text/html")
    el(el(root, "author"), "name", "Paper Digest")
    el(root, "generator", "paper-digest")
    seen: set[str] = set()
    for s in sent:
        for key in s.papers:
            paper = papers.get(key)
            if paper is None or key in seen:
                continue
            seen.add(key)
            entry = el(root, "entry")
            el(entry, "title", paper.title)
            el(entry, "id", f"urn:paper-digest:paper:{quote(key, safe=':.')}")
            el(entry, "updated", _stamp(s))
            if paper.url:
                el(entry, "link", rel="alternate", href=paper.url, type="text/html")
            if paper.pdf_url:
                el(entry, "link", rel="related", href=paper.pdf_url, type="application/pdf")
            for name in paper.authors[:20]:
                el(el(entry, "author"), "name", name)
            if not paper.authors:
                el(el(entry, "author"), "name", paper.organization or "unknown")
            el(entry, "summary", paper.ai_summary or paper.abstract)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)
