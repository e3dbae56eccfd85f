"""A message as it goes over the wire: headers built by the email package and their serialized
block verified, untrusted header text made safe, and the two parts encoded (7-bit where it
can, quoted-printable where it must) around a boundary no part can hold."""

from __future__ import annotations

import binascii
import re
from dataclasses import dataclass
from email import policy
from email.headerregistry import HeaderRegistry
from email.message import EmailMessage

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


_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_PHRASE = re.compile(rf"{_ATOM}(?: {_ATOM})*")
_ADDR_SPEC = re.compile(rf"{_ATOM}(?:\.{_ATOM})*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*")
_WORDS = re.compile(r"[!-~]+(?: [!-~]+)*")


def plain_line(name: str, value: str) -> bytes | None:
    """`name: value` on one line, when that is exactly what the email package writes: short
    printable ASCII words, nothing it would fold, encode or quote. None otherwise (the email
    package makes that header). A shortcut for the headers each message has of its own;
    checked against the email package by `Composer` and the tests."""
    line = f"{name}: {value}"
    if len(line) > WIRE.max_line_length or "=?" in value or not _WORDS.fullmatch(value):
        return None
    return line.encode("ascii") + b"\r\n"


_HEADER_URL = re.compile(r"[!-~]+")  # printable ASCII without spaces


def url_list_line(name: str, urls: list[str]) -> bytes | None:
    """`name: <u1>,` then ` <u2>` on the next line: a list of URLs (List-Unsubscribe, RFC
    2369) folded between its commas and never encoded, as mail clients read it literally
    (the email package would fold a long one into encoded words, which no client takes for
    a URL). None when a URL is not plain printable ASCII or a line would pass 998."""
    if not urls or not all(_HEADER_URL.fullmatch(u) and not set(u) & set("<>,") for u in urls):
        return None
    lines = [f"{name}: <{urls[0]}>", *(f" <{u}>" for u in urls[1:])]
    text = ",\r\n".join(lines)
    if any(len(line) > 998 for line in lines):
        return None
    return text.encode("ascii") + b"\r\n"


def plain_address(display_name: str, addr_spec: str) -> str | None:
    """`Name <addr>` (or the bare address) when the email package would write just that: a
    display name of atoms, a dot-atom address. None when it would quote or encode."""
    if not _ADDR_SPEC.fullmatch(addr_spec):
        return None
    if not display_name:
        return addr_spec
    return f"{display_name} <{addr_spec}>" if _PHRASE.fullmatch(display_name) else None


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
    if raw_checked or html.isascii() or not RAW_NON_ASCII.search(html):
        body = _seven_bit(html.encode("ascii", "xmlcharrefreplace").decode("ascii"))
        if body is not None:
            return body
    return Body(quoted_printable(html), "quoted-printable")


# Non-ASCII text inside <style>, <script> or a comment: there, "&#8199;" stays literal.
RAW_NON_ASCII = re.compile(
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
