"""Render a Digest into an EmailMessage: Jinja HTML and text parts, CSS inlined by premailer."""

from __future__ import annotations

import hashlib
import logging
import quopri
import re
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path

import cssutils
from jinja2 import ChoiceLoader, Environment, FileSystemLoader, StrictUndefined
from premailer import Premailer

from .config import Settings
from .display import (
    BARE,
    FULL,
    LINE,
    blurb,
    breakable,
    card,
    plain_math,
    short_authors,
    trim_words,
    wrap_text,
)
from .models import Digest, Ranked, Subscriber, one_line
from .tokens import links_for

# Gmail clips an HTML part past 102 KB; measured as sent (quoted-printable), with room to spare.
GMAIL_CLIP_BYTES = 102 * 1024
HTML_BUDGET = 100 * 1024


def builtin_templates() -> Path:
    """The wheel ships templates as digest/templates; a source checkout has them at top level."""
    here = Path(__file__).resolve().parent
    packaged = here / "templates"
    return packaged if packaged.is_dir() else here.parent / "templates"


def make_environment(override_dir: Path | None = None) -> Environment:
    loaders = [FileSystemLoader(str(override_dir))] if override_dir else []
    loaders.append(FileSystemLoader(str(builtin_templates())))
    env = Environment(
        loader=ChoiceLoader(loaders),
        autoescape=lambda name: bool(name) and name.endswith((".html.j2", ".html")),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(
        trim_words=trim_words,
        short_authors=short_authors,
        wrap_text=wrap_text,
        breakable=breakable,
        plain_math=plain_math,
    )
    return env


def message_id(digest: Digest, domain: str) -> str:
    """Deterministic: the same decided digest always carries the same Message-ID, so a copy
    sent twice (relay accepted, process died before the ledger commit) is recognizable."""
    keys = ",".join(sorted(r.paper.key for r in digest.papers))
    h = hashlib.sha256(f"{digest.subscriber.email}|{digest.day}|{keys}".encode()).hexdigest()
    return f"<digest.{digest.day:%Y%m%d}.{h[:20]}@{domain}>"


def topics(papers: list[Ranked], limit: int = 3) -> list[str]:
    """The keywords that carry this digest: most papers matched, then most points."""
    count: Counter[str] = Counter()
    points: Counter[str] = Counter()
    for r in papers:
        for m in r.matches:
            if m.field != "authors":
                points[m.term] += m.points
        for term in r.matched_terms:
            count[term] += 1
    return sorted(count, key=lambda t: (-count[t], -points[t], t))[:limit]


def subject_line(digest: Digest) -> str:
    n = len(digest.papers)
    noun = "paper" if n == 1 else "papers"
    count = f"{n} {noun} this week" if digest.since else f"{n} new {noun}"
    about = ", ".join(digest.topics)
    return f"{count} for {about}" if about else count


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


def preheader(digest: Digest, limit: int = 110) -> str:
    """The line an inbox shows after the subject: the top paper, and how many follow."""
    if not digest.papers:
        return ""
    top = trim_words(plain_math(one_line(digest.papers[0].paper.title)), limit)
    more = len(digest.papers) - 1
    return f"Top pick: {top}" + (f" · and {more} more" if more else "")


def html_size(html: str) -> int:
    """Bytes of the HTML part as sent, which is what a clipping limit sees."""
    return len(quopri.encodestring(html.encode("utf-8")))


# What a bare card costs beyond its one-line form: authors, chips, links and their inline styles.
BARE_CARD_BYTES = 1500
BLURB_MARKUP_BYTES = 150


def lower_details(papers: list[Ranked], details: list[int], excess: int) -> bool:
    """Shorten the least relevant card first, a step at a time (abstract cut short, abstract
    dropped, one line), then the next card up, until the bytes saved are expected to cover
    `excess`. So a card never shows more than a card ranked above it. False when every card
    is already one line."""
    saved = 0
    for i in reversed(range(len(details))):
        while details[i] > LINE:
            if saved >= excess:
                return True
            level = details[i]
            details[i] -= 1
            if level == BARE:
                saved += BARE_CARD_BYTES
            else:
                after = blurb(papers[i], details[i])
                saved += len(blurb(papers[i], level).encode()) - len(after.encode())
                saved += 0 if after else BLURB_MARKUP_BYTES
    return saved > 0


@dataclass(frozen=True)
class Composed:
    digest: Digest
    message: EmailMessage
    subject: str
    html: str
    text: str
    raw: bytes  # the message as it goes over the wire (CRLF), headers verified


# Control characters (C0, DEL, C1), line and paragraph separators, and the bidi controls that
# can make a header read differently from what it says. Header text keeps none of them.
_HEADER_UNSAFE = re.compile(
    r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]+"
)
_HEADER_LINE = re.compile(rb"^(?:[!-9;-~]+:|[ \t])")
WIRE = policy.SMTP.clone(max_line_length=78)


def header_text(value: str, limit: int = 200) -> str:
    """Untrusted text made safe for a header: one line, no controls, no encoded words,
    bounded length."""
    text = " ".join(_HEADER_UNSAFE.sub(" ", value).split())
    # The email package decodes anything shaped like an RFC 2047 encoded word in a value it is
    # given ("=?x?q?=0D?=" becomes a raw CR); break the shape so text stays text.
    text = text.replace("=?", "= ?")
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def serialize(msg: EmailMessage) -> bytes:
    """The message's wire bytes, refusing any header block that a newline smuggled through.

    Python before 3.11.10 / 3.12.5 can write a newline from a header value raw, or inside an
    encoded word, into the output (CVE-2024-6923); this checks the output itself, so safety
    does not depend on the interpreter.
    """
    raw = msg.as_bytes(policy=WIRE)
    head, sep, _ = raw.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    names = [line.split(b":", 1)[0].lower() for line in lines if not line[:1].isspace()]
    expected = [k.lower().encode() for k in msg]
    if (
        not sep
        or b"\n" in head.replace(b"\r\n", b"")
        or b"\r" in head.replace(b"\r\n", b"")
        or not all(_HEADER_LINE.match(line) for line in lines)
        or names != expected
    ):
        raise ValueError("refusing to send a message whose headers do not serialize cleanly")
    return raw


class Composer:
    """Holds the compiled templates and the sender identity; compose() is pure per digest."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.env = make_environment(settings.templates_dir)
        self.html_template = self.env.get_template("digest.html.j2")
        self.text_template = self.env.get_template("digest.txt.j2")
        self.sender: Address = settings.from_address
        self.domain = self.sender.domain or "localhost"
        self.budget = HTML_BUDGET
        self.links = links_for(settings)
        logging.getLogger("CSSUTILS").setLevel(logging.CRITICAL)
        cssutils.ser.prefs.useMinified()  # the <style> premailer leaves (media queries), compact

    def context(
        self, digest: Digest, subject: str, details: list[int] | None = None
    ) -> dict[str, object]:
        """What the templates see (README, "Templates")."""
        sub = digest.subscriber
        keywords = [t for t in (one_line(k.term) for k in sub.keywords) if t]
        levels = zip(digest.papers, details or [FULL] * len(digest.papers), strict=True)
        cards = [card(i, r, d) for i, (r, d) in enumerate(levels, 1)]
        return {
            "subject": subject,
            "headline": subject,
            "preheader": preheader(digest),
            "day": digest.day,
            "day_label": day_label(digest),
            "weekly": digest.since is not None,
            "cards": cards,
            "papers": digest.papers,
            "subscriber": sub,
            "keywords": keywords,
            "keyword_list": spoken_list(keywords),
            "unsubscribe_url": self.unsubscribe_links(sub)[0],
            "preferences_url": self.links.preferences(sub.uid) if self.web(sub) else None,
            "sender": self.sender.addr_spec,
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

    def inline(self, html: str) -> str:
        return Premailer(
            html,
            allow_network=False,
            strip_important=False,
            keep_style_tags=False,
            disable_validation=True,
            cssutils_logging_level=logging.CRITICAL,
        ).transform(pretty_print=False)

    def fitted_html(self, digest: Digest, subject: str, ctx: dict[str, object]) -> str:
        """The inlined HTML part of `ctx` (every card full), its least relevant cards shortened
        until it fits the budget."""
        details = [FULL] * len(digest.papers)
        while True:
            html = self.inline(self.html_template.render(ctx))
            excess = html_size(html) - self.budget
            if excess <= 0 or not lower_details(digest.papers, details, excess):
                return html
            ctx = self.context(digest, subject, details)

    def compose(self, digest: Digest) -> Composed:
        if not digest.topics:
            digest.topics = topics(digest.papers)
        if not digest.message_id:
            digest.message_id = message_id(digest, self.domain)
        subject = header_text(subject_line(digest))
        ctx = self.context(digest, subject)
        text = self.text_template.render(ctx)
        html = self.fitted_html(digest, subject, ctx)

        msg = EmailMessage()
        msg["Subject"] = subject
        msg["From"] = self.sender
        msg["To"] = Address(
            display_name=header_text(digest.subscriber.name or "", 100),
            addr_spec=digest.subscriber.email,
        )
        msg["Date"] = format_datetime(datetime.now(UTC))
        msg["Message-ID"] = digest.message_id
        msg["List-Id"] = f"Paper Digest <paper-digest.{self.domain}>"
        unsubscribe = self.unsubscribe_links(digest.subscriber)
        msg["List-Unsubscribe"] = ", ".join(f"<{url}>" for url in unsubscribe)
        if len(unsubscribe) > 1:
            msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"  # RFC 8058
        msg["Auto-Submitted"] = "auto-generated"
        msg.set_content(text, cte="quoted-printable")
        msg.add_alternative(html, subtype="html", cte="quoted-printable")
        return Composed(digest, msg, subject, html, text, serialize(msg))
