"""Hostile values for property-based tests of the program's input edges: control, line and
bidi characters, lone surrogates (as text, as the bytes b"\\xed\\xa0\\x80", as XML character
references), numbers out of every range, huge strings, deep nesting and bytes that are no
UTF-8 at all. Shared by tests/unit/test_fuzz_inputs.py and tests/integration/test_fuzz_web.py
(and the settings test in tests/unit/test_fuzz.py)."""

from __future__ import annotations

from urllib.parse import quote_from_bytes

from hypothesis import strategies as st

CONTROLS = [chr(c) for c in range(0x20)] + ["\x7f", "\x85", "\x9b"]
LINE_BREAKS = ["\n", "\r", "\r\n", "\x0b", "\x0c", "\x1c", "\x1e", "\x85", "\u2028", "\u2029"]
BIDI = [
    "\u202a",
    "\u202b",
    "\u202c",
    "\u202d",
    "\u202e",
    "\u2066",
    "\u2067",
    "\u2068",
    "\u2069",
    "\u200e",
    "\u200f",
    "\u061c",
]
INVISIBLE = ["\u200b", "\u200d", "\ufeff", "\u00ad", "\u034f", "\u00a0", "\u3000"]
SURROGATES = ["\ud800", "\udbff", "\udc00", "\udc80", "\udcff", "\udfff"]
ODD = ["é", "e\u0301", "😀", "\ufffd", "\uffff", "\U0010ffff", "<", ">", "&", '"', "'", "\\", "%"]
ENCODED_WORDS = ["=?utf-8?q?=0D=0ABcc=3A_x?=", "=?utf-8?b?DQpCY2M6IHg=?="]

# Numbers as text: out of every range, not finite, in other scripts, too long to convert.
NUMBERS = [
    "0",
    "-0",
    "-1",
    "1e-300",
    "1e309",
    "-1e309",
    "inf",
    "-inf",
    "nan",
    "NaN",
    "1e30",
    str(10**30),
    str(2**63),
    "9" * 5000,
    "0x10",
    "1_000",
    "+5",
    "1.5",
    ".",
    "١٢",  # Arabic-Indic digits: str.isdigit() says yes, int() reads them
    "²",  # superscript two: str.isdigit() says yes, int() refuses it
    " 5 ",
]

# Huge values, each a different shape: one unbroken word, many words, many lines, emoji,
# bidi marks alone.
HUGE = [
    "A" * 100_000,
    "word " * 20_000,
    "line\n" * 10_000,
    "😀" * 30_000,
    "\u202e" * 1000,
    "x" * 300,  # longer than a file name may be
]


def weighted(*choices):
    """One of the strategies, each `weight` times as likely as a strategy of weight 1:
    (weight, strategy) pairs. st.one_of would flatten nested one_ofs into equal branches."""
    pool = [strategy for weight, strategy in choices for _ in range(weight)]
    return st.sampled_from(pool).flatmap(lambda strategy: strategy)


def chars(*, surrogates: bool) -> list[str]:
    out = CONTROLS + LINE_BREAKS + BIDI + INVISIBLE + ODD + ENCODED_WORDS
    return out + SURROGATES if surrogates else out


def hostile_text(*, surrogates: bool = True, max_size: int = 40, huge: bool = True):
    """Text an attacker or a broken system might hand over: generic text, text made of the
    characters above, those characters hidden inside ordinary words, numbers, huge values."""
    alphabet = st.sampled_from(chars(surrogates=surrogates))
    parts = [
        st.text(max_size=max_size),
        st.lists(alphabet, max_size=max_size).map("".join),
        st.tuples(st.text(max_size=8), alphabet, st.text(max_size=8)).map("".join),
        st.sampled_from(NUMBERS),
    ]
    if surrogates:
        parts.append(st.text(st.characters(categories=["Cs"]), min_size=1, max_size=4))
    if huge:
        parts.append(st.sampled_from(HUGE))
    return st.one_of(*parts)


def utf8(text: str) -> bytes:
    """The text's bytes, a lone surrogate written as the three bytes UTF-8 forbids."""
    return text.encode("utf-8", "surrogatepass")


# Percent-encoded byte sequences no form can decode as UTF-8 text.
BAD_ESCAPES = [
    b"%ED%A0%80",  # a lone surrogate, as bytes
    b"%ED%B3%BF",
    b"%FF",
    b"%C0%80",  # an overlong NUL
    b"%F4%90%80%80",  # above U+10FFFF
    b"%00",
    b"%",
    b"%G1",
    b"%E2%80%AE",  # RIGHT-TO-LEFT OVERRIDE (valid UTF-8, hostile text)
    b"%0D%0A",
]


def form_value(*, max_huge: int = 40_000):
    """One form field's value, already percent-encoded as a browser (or not) sends it."""
    text = hostile_text(huge=False).map(lambda t: quote_from_bytes(utf8(t), safe="").encode())
    raw = st.lists(st.sampled_from(BAD_ESCAPES), min_size=1, max_size=4).map(b"".join)
    mixed = st.tuples(text, raw, text).map(b"".join)
    huge = st.sampled_from([b"A" * max_huge, b"%C3%A9" * (max_huge // 6), b"a+" * (max_huge // 2)])
    plus = st.sampled_from([b"+", b"++", b"a+b", b"x+%5E2", b"x+%5E" + b"9" * 400, b"x+%5E0"])
    numbers = st.sampled_from(NUMBERS).map(lambda n: quote_from_bytes(n.encode()).encode())
    return st.one_of(text, raw, mixed, huge, plus, numbers)


# XML: fragments for a feed's text fields, as bytes inside an element.
CHAR_REFS = [
    b"&#xD800;",
    b"&#xDFFF;",
    b"&#55296;",
    b"&#x1b;",
    b"&#0;",
    b"&#x7f;",
    b"&#x85;",
    b"&#x202e;",
    b"&#x2028;",
    b"&#xFFFE;",
    b"&#x110000;",
    b"&#x;",
    b"&bogus;",
    b"&amp;",
    b"&lt;b&gt;",
]
RAW_BYTES = [b"\xed\xa0\x80", b"\xff", b"\xc0\x80", b"\x00", b"\x1b", b"\xef\xbf\xbe", b"\x80"]


def xml_escape(data: bytes) -> bytes:
    return data.replace(b"&", b"&amp;").replace(b"<", b"&lt;").replace(b">", b"&gt;")


# Character references to numbers no code point has, past what a C int holds.
HUGE_CHAR_REFS = [b"&#99999999999999999999;", b"&#xFFFFFFFFFFFFFFFFFFFF;", b"&#4294967296;"]


def xml_text(*, huge: bool = True, max_nesting: int = 2000):
    """A hostile element body: escaped hostile text (a lone surrogate as its raw bytes),
    character references to what XML or UTF-8 forbids, raw bytes, CDATA, nested or broken
    markup, huge runs (`huge`: feedparser's author parsing is quadratic in a field's length,
    so a 100 kB name costs a minute; the tests keep huge values to titles and abstracts)."""
    text = hostile_text(huge=huge).map(lambda t: xml_escape(utf8(t)))
    refs = st.lists(st.sampled_from(CHAR_REFS), min_size=1, max_size=3).map(b"".join)
    raw = st.lists(st.sampled_from(RAW_BYTES), min_size=1, max_size=3).map(b"".join)
    nested = st.integers(1, max_nesting).map(lambda n: b"<a>" * n + b"</a>" * n)
    broken = st.sampled_from([b"<a>", b"</a>", b"<![CDATA[x]]>", b"<![CDATA[", b"<!--", b"<?x?>"])
    odd = st.one_of(refs, raw, nested, broken, st.binary(max_size=12))
    mixed = st.lists(st.one_of(text, odd), min_size=2, max_size=4).map(b"".join)
    # Well-formed text most often, so that the parser gets past XML to the fields' meaning.
    return weighted((6, text), (1, refs), (1, mixed), (1, odd))
