"""A decided Digest rendered into the message its subscriber gets: Jinja HTML and text parts
from the same cards, CSS inlined, the HTML part fitted to the size budget, and the wire bytes
with their headers. Composing changes nothing it is given: it returns what it made."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import format_datetime
from pathlib import Path

import cssutils
from markupsafe import Markup

from ..domain.digest import LESS, MORE, Digest, Ranked
from ..domain.subscriber import Subscriber
from ..domain.text import one_line
from ..errors import NotInlinable
from ..subscriptions.links import Links
from .cards import FULL, LINE, Link, card
from .fit import HTML_BUDGET, lower_details
from .inline import compiled, inline_html, inlined_source, same_document
from .mime import (
    BOUNDARY,
    HEADERS,
    RAW_NON_ASCII,
    Body,
    alternative,
    header_block,
    header_text,
    html_body,
    plain_address,
    plain_line,
    text_body,
    url_list_line,
)
from .templates import make_environment
from .text import plain_math, trim_words


def topics(papers: Sequence[Ranked], limit: int = 3) -> list[str]:
    """The keywords that carry this digest: most papers matched, then most points."""
    count: Counter[str] = Counter()
    points: Counter[str] = Counter()
    for r in papers:
        for m in r.matches:
            if m.keyword:
                points[m.term] += m.points
        for term in r.matched_terms:
            count[term] += 1
    return sorted(count, key=lambda t: (-count[t], -points[t], t))[:limit]


def subject_line(digest: Digest) -> str:
    """ "Ctrl-World: A Controllable World Model… and 5 more (6 Nov)": the top paper and the
    day. A subject of its own each day, so mail clients that thread by subject (Gmail) keep
    each day's digest apart, and the inbox line already says what the best paper is. (Our
    own words stay ASCII: a non-ASCII separator becomes an encoded word, and folding beside
    one doubles a space.)"""
    papers = digest.papers or digest.trending
    if not papers:
        return f"Paper Digest ({short_day(digest)})"
    top = trim_words(plain_math(one_line(papers[0].paper.title)), SUBJECT_TITLE)
    if top.endswith("…"):  # ASCII, so an ASCII title's subject needs no encoded word
        top = top[:-1] + "..."
    n = len(digest.papers) + len(digest.trending)
    more = f" and {n - 1} more" if n > 1 else ""
    label = "" if digest.papers else f"{trending_label(digest)}: "
    return f"{label}{top}{more} ({short_day(digest)})"


def trending_label(digest: Digest) -> str:
    return "Trending this week" if digest.since else "Trending today"


# Characters of the top paper's title in a subject: what a phone's inbox shows of it.
SUBJECT_TITLE = 70


def short_day(digest: Digest) -> str:
    """ "6 Nov", or "week to 6 Nov" for a weekly digest."""
    day = digest.day
    return f"{day.day} {day:%b}" if digest.since is None else f"week to {day.day} {day:%b}"


def headline(digest: Digest) -> str:
    """ "6 new papers on world model, robot and offline RL": how many, and the keywords
    that carried most of them."""
    n = len(digest.papers)
    if not n:  # a digest of trending papers only
        hot = len(digest.trending)
        noun = "paper" if hot == 1 else "papers"
        when = "this week" if digest.since else "today"
        return f"The {hot} most upvoted new {noun} {when}"
    noun = "paper" if n == 1 else "papers"
    count = f"{n} {noun} this week" if digest.since else f"{n} new {noun}"
    about = spoken_list(topics(digest.papers))
    return f"{count} on {about}" if about else count


def day_label(digest: Digest) -> str:
    """The date line: "Thursday, 6 November 2025", or "31 October – 6 November 2025" for a
    weekly digest."""
    day = digest.day
    if digest.since is None:
        return f"{day:%A}, {day.day} {day:%B %Y}"
    start = digest.since
    first = f"{start.day} {start:%B}" + (f" {start:%Y}" if start.year != day.year else "")
    return f"{first} – {day.day} {day:%B %Y}"


def spoken_list(items: list[str]) -> str:
    """a, b and c"""
    return " and ".join([", ".join(items[:-1]), items[-1]]) if len(items) > 1 else "".join(items)


def preheader(digest: Digest) -> str:
    """The line an inbox shows after the subject (which names the top paper): what else
    the digest holds."""
    return headline(digest) if digest.papers else ""


# Figure spaces and combining grapheme joiners after the preheader, so an inbox preview shows
# the preheader and then blank space, not the start of the body.
PREHEADER_PADDING = Markup("&#8199;&#847;" * 40)


@dataclass(frozen=True)
class Composed:
    """What composing a digest made: the subject, both parts, and the wire bytes."""

    digest: Digest
    subject: str
    html: str
    text: str
    raw: bytes  # the message as it goes over the wire (CRLF), headers verified

    @property
    def message(self) -> EmailMessage:
        return BytesParser(policy=policy.default).parsebytes(self.raw)  # type: ignore[return-value]


class Composer:
    """Holds the compiled templates, the sender identity and the subscriber pages' links
    (None without `digest serve` configured); compose() changes nothing it is given, and a
    digest composed twice gives the same message but for its Date.

    The HTML template is inlined once (`inline.py`). The first message is also inlined the
    slow way and the two compared; if they differ, `fallback` says why and every message is
    inlined on its own from then on.
    """

    def __init__(
        self, sender: Address, links: Links | None = None, templates_dir: Path | None = None
    ) -> None:
        self.env = make_environment(templates_dir)
        self.html_template = self.env.get_template("digest.html.j2")
        self.text_template = self.env.get_template("digest.txt.j2")
        self.sender = sender
        self.domain = sender.domain or "localhost"
        self.budget = HTML_BUDGET
        self.links = links
        logging.getLogger("CSSUTILS").setLevel(logging.CRITICAL)
        cssutils.ser.prefs.useMinified()  # the <style> premailer leaves (media queries), compact
        self.fixed_headers = self._fixed_headers()
        self._repeated: dict[tuple[str, str], bytes] = {}
        self.plain_headers = True  # false once a plain header differed from the email package's
        self.checked_headers = False
        self.fallback: str | None = None
        self.inlined = None
        self.checked = False
        self.ascii_raw = False
        try:
            source = inlined_source(self.env, "digest.html.j2")
            self.inlined = compiled(self.env, "digest.html.j2", source)
            self.ascii_raw = not RAW_NON_ASCII.search(source)
        except NotInlinable as exc:
            self.fallback = str(exc)

    def context(
        self, digest: Digest, subject: str, details: list[int] | None = None
    ) -> dict[str, object]:
        """What the templates see (README, "Templates")."""
        sub = digest.subscriber
        keywords = [t for t in (one_line(k.term) for k in sub.keywords) if t]
        shown = (*digest.papers, *digest.trending)
        details = details or [FULL] * len(shown)
        n = len(digest.papers)
        levels = zip(digest.papers, details[:n], strict=True)
        cards = [card(i, r, d, self.rate_links(sub, r, d)) for i, (r, d) in enumerate(levels, 1)]
        hot = [
            card(i, r, d, self.rate_links(sub, r, d), trending=True)
            for i, (r, d) in enumerate(zip(digest.trending, details[n:], strict=True), n + 1)
        ]
        return {
            "subject": subject,
            "headline": headline(digest),
            "preheader": preheader(digest),
            "preheader_padding": PREHEADER_PADDING,
            "day": digest.day,
            "day_label": day_label(digest),
            "weekly": digest.since is not None,
            "cards": cards,
            "trending": hot,
            "trending_label": trending_label(digest),
            "papers": list(digest.papers),
            "subscriber": sub,
            "keywords": keywords,
            "keyword_list": spoken_list(keywords),
            "unsubscribe_url": self.unsubscribe_links(sub)[0],
            "preferences_url": self.links.preferences(sub.uid) if self.web(sub) else None,
            "more": len(digest.passed_over),
            "also": [],
            **self.reading_links(digest),
            "sender": self.sender.addr_spec,
        }

    def rate_links(self, sub: Subscriber, ranked: Ranked, detail: int) -> tuple[Link, ...]:
        """A card's "more like this" and "less like this" links, where the web app runs and
        the card has room for links."""
        if self.links is None or not sub.uid or detail <= LINE:
            return ()
        key = ranked.paper.key
        return (
            Link("More like this", self.links.rate(sub.uid, key, MORE)),
            Link("Less like this", self.links.rate(sub.uid, key, LESS)),
        )

    def reading_links(self, digest: Digest) -> dict[str, str | None]:
        """Where the web app runs: this digest as a page (with every paper that matched,
        when some did not fit), the subscriber's archive and feed."""
        sub = digest.subscriber
        if self.links is None or not sub.uid:
            return dict.fromkeys(("view_url", "full_list_url", "archive_url", "feed_url"))
        view = self.links.view(sub.uid, digest.message_id)
        return {
            "view_url": view,
            "full_list_url": f"{view}#more" if digest.passed_over else None,
            "archive_url": self.links.archive(sub.uid),
            "feed_url": self.links.feed(sub.uid),
        }

    def web(self, sub: Subscriber) -> bool:
        return self.links is not None and bool(sub.uid)

    def unsubscribe_links(self, sub: Subscriber) -> list[str]:
        """The subscriber's one-click (https) unsubscribe link when the web app is configured,
        then the mailto: fallback every client understands."""
        mailto = f"mailto:{self.sender.addr_spec}?subject=unsubscribe"
        if self.links is not None and sub.uid:
            return [self.links.unsubscribe(sub.uid), mailto]
        return [mailto]

    def render_html(self, ctx: dict[str, object]) -> str:
        """The HTML part with its CSS inlined: rendered from the inlined template, or (when
        that cannot be trusted for this template) rendered, then inlined."""
        if self.inlined is None:
            return inline_html(self.html_template.render(ctx))
        fast = self.inlined.render(ctx)
        if not self.checked:
            self.checked = True
            slow = inline_html(self.html_template.render(ctx))
            if not same_document(fast, slow):
                self.inlined = None
                self.fallback = "inlining the template once does not give what premailer gives"
                return slow
        return fast

    def fitted_html(self, digest: Digest, subject: str, ctx: dict[str, object]) -> tuple[str, Body]:
        """The inlined HTML part of `ctx` (every card full), its least relevant cards shortened
        until it fits the budget; and its body as sent."""
        shown = (*digest.papers, *digest.trending)  # the trending section shortened first
        details = [FULL] * len(shown)
        while True:
            html = self.render_html(ctx)
            body = html_body(html, raw_checked=self.inlined is not None and self.ascii_raw)
            excess = len(body.data) - self.budget
            if excess <= 0 or not lower_details(shown, details, excess):
                return html, body
            ctx = self.context(digest, subject, details)

    def page(self, digest: Digest, subject: str, also: Sequence[Ranked] = ()) -> str:
        """The digest as a web page ("view in browser"): the HTML part as sent, then the
        papers it passed over (`also`), under the heading its "N more" line links to."""
        ctx = self.context(digest, subject)
        first = len(digest.papers) + len(digest.trending) + 1
        ctx["also"] = [
            card(i, r, FULL, self.rate_links(digest.subscriber, r, FULL))
            for i, r in enumerate(also, first)
        ]
        ctx["full_list_url"] = "#more" if also else None
        return self.render_html(ctx)

    def compose(self, digest: Digest) -> Composed:
        """The message of a decided digest, under the Message-ID the decision fixed."""
        subject = header_text(subject_line(digest))
        ctx = self.context(digest, subject)
        text = self.text_template.render(ctx)
        html, html_part = self.fitted_html(digest, subject, ctx)
        raw = b"".join(
            (
                *self.headers(digest, subject),
                self.fixed_headers,
                b"\r\n",
                *alternative(text_body(text), html_part),
            )
        )
        return Composed(digest, subject, html, text, raw)

    def headers(self, digest: Digest, subject: str) -> list[bytes]:
        """The headers of this message that not every message shares, serialized and
        verified. Plain ones (short ASCII, as nearly all are) are written directly; the
        first message's are also made by the email package, and if the two differ, the
        email package makes every header from then on."""
        fields = self.header_fields(digest, subject)
        shared = [self.repeated("Date", format_datetime(datetime.now(UTC)))]
        if not self.web(digest.subscriber):
            name, value = fields.pop()
            shared.append(self.repeated(name, str(value)))
        else:  # its long https URL must stay a URL: written directly, folded at the comma
            listed = url_list_line("List-Unsubscribe", self.unsubscribe_links(digest.subscriber))
            if listed is not None:
                fields = [(k, v) for k, v in fields if k != "List-Unsubscribe"]
                shared.insert(0, listed)
        slow = self.packaged(fields)
        if self.plain_headers:
            fast = [plain_line(k, v) if isinstance(v, str) else None for k, v in fields]
            if not self.checked_headers and all(fast):
                self.checked_headers = True
                if b"".join(f for f in fast if f) != slow():
                    self.plain_headers = False
                    return [slow(), *shared]
            if all(fast):
                return [*(f for f in fast if f), *shared]
        return [slow(), *shared]

    def header_fields(self, digest: Digest, subject: str) -> list[tuple[str, object]]:
        """This message's own headers, in order; the List-Unsubscribe without the web app
        (the same for everyone) last."""
        sub = digest.subscriber
        name = header_text(sub.name or "", 100)
        to = plain_address(name, sub.email) or Address(display_name=name, addr_spec=sub.email)
        fields: list[tuple[str, object]] = [
            ("Subject", subject),
            ("To", to),
            ("Message-ID", digest.message_id),
        ]
        unsubscribe = ", ".join(f"<{url}>" for url in self.unsubscribe_links(sub))
        fields.append(("List-Unsubscribe", unsubscribe))
        if self.web(sub):
            fields.append(("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"))  # RFC 8058
        return fields

    @staticmethod
    def packaged(fields: list[tuple[str, object]]) -> Callable[[], bytes]:
        """The header block of `fields` as the email package builds and verifies it."""

        def build() -> bytes:
            head = EmailMessage(policy=HEADERS)
            for name, value in fields:
                head[name] = value
            return header_block(head)

        return build

    def repeated(self, name: str, value: str) -> bytes:
        """A header many messages of a run share (the Date of this second, the mailto:
        unsubscribe), built and verified by the email package once."""
        folded = self._repeated.get((name, value))
        if folded is None:
            if len(self._repeated) > 64:
                self._repeated.clear()
            one = EmailMessage(policy=HEADERS)
            one[name] = value
            folded = self._repeated[name, value] = header_block(one)
        return folded

    def _fixed_headers(self) -> bytes:
        """The headers every message of this sender carries, serialized once."""
        fixed = EmailMessage(policy=HEADERS)
        fixed["From"] = self.sender
        fixed["List-Id"] = f"Paper Digest <paper-digest.{self.domain}>"
        fixed["Auto-Submitted"] = "auto-generated"
        fixed["MIME-Version"] = "1.0"
        fixed["Content-Type"] = "multipart/alternative"
        fixed.set_param("boundary", BOUNDARY)
        return header_block(fixed)
