"""How a paper's untrusted text is shown: math made readable, lengths bounded, long runs made
breakable, plain text wrapped to columns as a terminal counts them."""

from __future__ import annotations

import logging
import re
import unicodedata
from functools import lru_cache

from pylatexenc.latex2text import LatexNodes2Text

ABSTRACT_CHARS = 150
SHORT_CHARS = 90
AUTHORS_SHOWN = 3
# A run of this many characters with no break opportunity gets one in HTML: an unbroken URL or
# identifier otherwise widens a phone's layout in clients that ignore overflow-wrap (Outlook).
BREAK_EVERY = 24
ZWSP = "\u200b"

# Inline math as titles and abstracts write it: $...$ or \(...\), on one line, of bounded length.
_MATH = re.compile(r"\$(?!\s)([^$\n]{1,200}?)(?<!\s)\$|\\\((.{1,200}?)\\\)")
_SCRIPT = re.compile(r"([\^_])(?:\{([^{}]{1,12})\}|([A-Za-z0-9]))")
_SUP = dict(zip("0123456789+-=()adikmnxT", "⁰¹²³⁴⁵⁶⁷⁸⁹⁺⁻⁼⁽⁾ᵃᵈⁱᵏᵐⁿˣᵀ", strict=True))
_SUB = dict(zip("0123456789+-=()aeijkmnotx", "₀₁₂₃₄₅₆₇₈₉₊₋₌₍₎ₐₑᵢⱼₖₘₙₒₜₓ", strict=True))
_LONG_RUN = re.compile(rf"\S{{{BREAK_EVERY + 1},}}")
_URL = re.compile(r"^https?://", re.IGNORECASE)
logging.getLogger("pylatexenc").setLevel(logging.CRITICAL)  # it warns for each bad macro
_LATEX = LatexNodes2Text(math_mode="text", strict_latex_spaces="based-on-source")


def _script(m: re.Match[str]) -> str:
    """x^{2} as x², t_i as tᵢ where Unicode has every character; else x^(ab)."""
    body = m.group(2) if m.group(2) is not None else m.group(3)
    table = _SUP if m.group(1) == "^" else _SUB
    if all(c in table for c in body):
        return "{}" + "".join(table[c] for c in body)  # {} ends a macro name before it
    return f"{m.group(1)}({body})" if len(body) > 1 else m.group(0)


def _math(m: re.Match[str]) -> str:
    src = m.group(1) if m.group(1) is not None else m.group(2)
    try:
        text = _LATEX.latex_to_text(_SCRIPT.sub(_script, src))
    except Exception:  # a parser's surprise on untrusted input must not cost the digest
        return m.group(0)
    text = " ".join(text.split())
    return text if text and "%s" not in text else m.group(0)


@lru_cache(maxsize=4096)
def plain_math(text: str) -> str:
    """Inline LaTeX read as text: "$O(\\sqrt{T})$ regret" becomes "O(√(T)) regret".

    Only math spans are converted, so a "%" or "\\" elsewhere in a title stays as written."""
    if "$" not in text and "\\(" not in text:
        return text
    return _MATH.sub(_math, text)


def trim_words(text: str, limit: int = ABSTRACT_CHARS) -> str:
    """At most `limit` characters, cut on a word boundary, with an ellipsis when cut."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    head = text[: limit + 1]
    cut = head.rsplit(" ", 1)[0] if " " in head[:limit] else text[:limit]
    return cut.rstrip(" ,;:.-") + "…"


def short_authors(authors: tuple[str, ...] | list[str], limit: int = AUTHORS_SHOWN) -> str:
    if len(authors) <= limit:
        return ", ".join(authors)
    return ", ".join(authors[:limit]) + " et al."


@lru_cache(maxsize=8192)
def breakable(text: str) -> str:
    """`text` with a zero-width space every BREAK_EVERY characters of a long unbroken run.

    Not <wbr>: premailer's HTML parser does not know it as a void element and wraps the rest of
    the line in <wbr>...</wbr>; and Outlook's Word engine honours only the character."""
    return _LONG_RUN.sub(
        lambda m: ZWSP.join(m[0][i : i + BREAK_EVERY] for i in range(0, len(m[0]), BREAK_EVERY)),
        text,
    )


def columns(text: str) -> int:
    """Terminal columns `text` takes: wide East Asian characters count two, combining marks
    and format characters none, so a CJK title wraps at 72 columns as a Latin one does."""
    if text.isascii():
        return len(text)
    return sum(
        0
        if unicodedata.category(c) in ("Mn", "Me", "Cf")
        else 2
        if unicodedata.east_asian_width(c) in "WF"
        else 1
        for c in text
    )


def _split_columns(word: str, room: int) -> list[str]:
    pieces, piece, used = [], "", 0
    for c in word:
        w = columns(c)
        if piece and used + w > room:
            pieces.append(piece)
            piece, used = "", 0
        piece += c
        used += w
    return [*pieces, piece] if piece else pieces


@lru_cache(maxsize=8192)  # a paper's blurb is wrapped once for every digest that carries it
def wrap_text(text: str, width: int = 72, indent: int = 0) -> str:
    """Filled to `width` columns. A word longer than a line is split, except a URL, which stays
    whole so it remains clickable in a text-only reader."""
    room = max(width - indent, 1)
    lines: list[str] = []
    line: list[str] = []
    used = 0
    for word in text.split():
        long = columns(word) > room and not _URL.match(word)
        for piece in _split_columns(word, room) if long else [word]:
            w = columns(piece)
            if line and used + 1 + w > room:
                lines.append(" ".join(line))
                line, used = [], 0
            used += w + (1 if line else 0)
            line.append(piece)
    if line:
        lines.append(" ".join(line))
    return "\n".join(" " * indent + line for line in lines)
