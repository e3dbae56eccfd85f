"""Untrusted text folded to one line, before it reaches a layout, a header or a log line."""

from __future__ import annotations

import unicodedata

_ASCII_CONTROLS = {c: " " for c in [*range(0x20), 0x7F]}


def one_line(text: str) -> str:
    """Collapse every run of whitespace and control characters to one space.

    Untrusted text (names, titles) must never carry a line break into a header or a layout.
    """
    if text.isascii():
        return " ".join(text.translate(_ASCII_CONTROLS).split())
    cleaned = "".join(" " if unicodedata.category(c)[0] in "CZ" else c for c in text)
    return " ".join(cleaned.split())


def printable(text: str) -> str:
    """A message made safe for one line of a log or a terminal: every control or line
    character shown as its escape (a newline as \\n, ESC as \\x1b), so text from a file or
    an argument can neither forge a line nor drive a terminal."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
