"""Render a Digest into an EmailMessage: Jinja HTML and text parts, CSS inlined by premailer."""

from __future__ import annotations

import binascii
import hashlib
import logging
import re
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from email import policy
from email.headerregistry import Address, HeaderRegistry
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import format_datetime
from pathlib import Path

import cssutils
from jinja2 import ChoiceLoader, Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup

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
from .inline import NotInlinable, compiled, inline_html, inlined_source, same_document
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


# Figure spaces and combining grapheme joiners after the preheader, so an inbox preview shows
# the preheader and then blank space, not the start of the body.
PREHEADER_PADDING = Markup("&#8199;&#847;" * 40)


def html_size(html: str) -> int:
    """Bytes of the HTML part as sent, which is what a clipping limit sees."""
    return len(html_body(html).data)


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
    subject: str
    html: str
    text: str
    raw: bytes  # the message as it goes over the wire (CRLF), headers verified

    @property
    def message(self) -> EmailMessage:
        return BytesParser(policy=policy.default).parsebytes(self.raw)  # type: ignore[return-value]


# Control characters (C0, DEL, C1), line and paragraph separators, and the bidi controls that
# can make a header read differently from what it says. Header text keeps none of them.
_HEADER_UNSAFE = re.compile(
    r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]+"
)
_HEADER_LINE = re.compile(rb"^(?:[!-9;-~]+:|[ \t])")
WIRE = policy.SMTP.clone(max_line_length=78)


class _Registry(HeaderRegistry):
    """The standard header classes, each built once: the stock registry makes a new class
    for every header it parses, a tenth of the cost of composing a message."""

    def __init__(self) -> None:
        super().__init__()
        self._made: dict[str, type] = {}

    def __getitem__(self, name: str) -> type:
        made = self._made.get(name)
        if made is None:
            made = self._made[name] = super().__getitem__(name)
        return made


HEADERS = policy.default.clone(header_factory=_Registry())


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
    if not sep:
        raise ValueError("refusing to send a message whose headers do not serialize cleanly")
    _verify(head, msg)
    return raw


def header_block(msg: EmailMessage) -> bytes:
    """`msg`'s headers as the email package writes them on the wire (each line ending in CRLF),
    verified as `serialize` verifies a whole message."""
    head = b"".join(WIRE.fold_binary(name, value) for name, value in msg.items())
    _verify(head.removesuffix(b"\r\n"), msg)
    return head


def _verify(head: bytes, msg: EmailMessage) -> None:
    lines = head.split(b"\r\n")
    names = [line.split(b":", 1)[0].lower() for line in lines if not line[:1].isspace()]
    expected = [k.lower().encode() for k in msg]
    if (
        b"\n" in head.replace(b"\r\n", b"")
        or b"\r" in head.replace(b"\r\n", b"")
        or not all(_HEADER_LINE.match(line) for line in lines)
        or names != expected
    ):
        raise ValueError("refusing to send a message whose headers do not serialize cleanly")


class Composer:
    """Holds the compiled templates and the sender identity; compose() is pure per digest.

    The HTML template is inlined once (`inline.py`). The first message is also inlined the
    slow way and the two compared; if they differ, `fallback` says why and every message is
    inlined on its own from then on.
    """

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
        self.fixed_headers = self._fixed_headers()
        self._repeated: dict[tuple[str, str], bytes] = {}
        self.fallback: str | None = None
        self.inlined = None
        self.checked = False
        self.ascii_raw = False
        try:
            source = inlined_source(self.env, "digest.html.j2")
            self.inlined = compiled(self.env, "digest.html.j2", source)
            self.ascii_raw = not _RAW_NON_ASCII.search(source)
        except NotInlinable as exc:
            self.fallback = str(exc)

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
            "preheader_padding": PREHEADER_PADDING,
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
        details = [FULL] * len(digest.papers)
        while True:
            html = self.render_html(ctx)
            body = html_body(html, raw_checked=self.inlined is not None and self.ascii_raw)
            excess = len(body.data) - self.budget
            if excess <= 0 or not lower_details(digest.papers, details, excess):
                return html, body
            ctx = self.context(digest, subject, details)

    def compose(self, digest: Digest) -> Composed:
        if not digest.topics:
            digest.topics = topics(digest.papers)
        if not digest.message_id:
            digest.message_id = message_id(digest, self.domain)
        subject = header_text(subject_line(digest))
        ctx = self.context(digest, subject)
        text = self.text_template.render(ctx)
        html, html_part = self.fitted_html(digest, subject, ctx)

        head = EmailMessage(policy=HEADERS)
        head["Subject"] = subject
        head["To"] = Address(
            display_name=header_text(digest.subscriber.name or "", 100),
            addr_spec=digest.subscriber.email,
        )
        head["Message-ID"] = digest.message_id
        unsubscribe = ", ".join(f"<{url}>" for url in self.unsubscribe_links(digest.subscriber))
        shared = [self.repeated("Date", format_datetime(datetime.now(UTC)))]
        if self.web(digest.subscriber):
            head["List-Unsubscribe"] = unsubscribe
            head["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"  # RFC 8058
        else:
            shared.append(self.repeated("List-Unsubscribe", unsubscribe))
        raw = b"".join(
            (
                header_block(head),
                *shared,
                self.fixed_headers,
                b"\r\n",
                *alternative(text_body(text), html_part),
            )
        )
        return Composed(digest, subject, html, text, raw)

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


@dataclass(frozen=True, slots=True)
class Body:
    """A part's body as sent, and its Content-Transfer-Encoding."""

    data: bytes
    encoding: str


MAX_LINE = 998  # RFC 5322: characters per line, CRLF not counted


def _crlf(text: str) -> str:
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text.replace("\n", "\r\n")


def quoted_printable(text: str) -> bytes:
    """`text` as a quoted-printable UTF-8 body with CRLF line ends, as SMTP carries it
    (binascii's encoder, in C: the email package's own is pure Python and was a third of the
    cost of composing a message)."""
    return binascii.b2a_qp(_crlf(text).encode("utf-8"))


def _seven_bit(text: str) -> Body | None:
    """`text` (ASCII) as it is, unless a line is too long for SMTP or could end the part."""
    data = _crlf(text).encode("ascii")
    longest = max(map(len, data.split(b"\r\n")))
    if longest > MAX_LINE or data.startswith(_DELIMITER[2:]) or _DELIMITER in data:
        return None
    return Body(data, "7bit")


def text_body(text: str) -> Body:
    """Plain ASCII text goes as it is; anything else as quoted-printable."""
    body = _seven_bit(text) if text.isascii() else None
    return body or Body(quoted_printable(text), "quoted-printable")


def html_body(html: str, raw_checked: bool = False) -> Body:
    """HTML as 7-bit text, each non-ASCII character written as a character reference (which
    every HTML parser reads back as that character, in text and in attribute values alike),
    so it needs no transfer encoding at all: smaller than quoted-printable, which writes each
    "=" of every attribute as "=3D", and faster to make. Quoted-printable when a line is too
    long for SMTP, or when the document's style or comments hold non-ASCII text, where a
    reference would not be read back (`raw_checked`: the template was checked for that once,
    and a message's own text cannot add a style or a comment)."""
    if raw_checked or html.isascii() or not _RAW_NON_ASCII.search(html):
        body = _seven_bit(html.encode("ascii", "xmlcharrefreplace").decode("ascii"))
        if body is not None:
            return body
    return Body(quoted_printable(html), "quoted-printable")


# Non-ASCII text inside <style>, <script> or a comment: there, "&#8199;" stays literal.
_RAW_NON_ASCII = re.compile(
    r"<(style|script)\b[^>]*>[^<]*[^\x00-\x7f]|<!--(?:(?!-->).)*[^\x00-\x7f]", re.S | re.I
)

# The boundary cannot occur in a part: it begins with "==", which quoted-printable writes as
# "=3D=3D"; a 7-bit part that holds it (untrusted text can) goes quoted-printable instead.
BOUNDARY = "==paper-digest-alternative=="
_DELIMITER = b"\r\n--" + BOUNDARY.encode()
_PART = (
    b"--" + BOUNDARY.encode() + b'\r\nContent-Type: text/%s; charset="utf-8"\r\n'
    b"Content-Transfer-Encoding: %s\r\n\r\n"
)


def alternative(text: Body, html: Body) -> tuple[bytes, ...]:
    """The body of a multipart/alternative message (BOUNDARY) of two encoded parts."""
    return (
        _PART % (b"plain", text.encoding.encode()),
        text.data,
        b"\r\n",
        _PART % (b"html", html.encoding.encode()),
        html.data,
        b"\r\n--" + BOUNDARY.encode() + b"--\r\n",
    )
