"""What a person enters (the subscribe and preferences forms, the options of `digest
subscribers add`) turned into a subscriber, through the subscriber file's own validation, so
every way in says the same thing about the same mistake."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from ..domain.subscriber import Keyword, Subscriber, parse_entry
from ..domain.text import one_line

_BOOST = re.compile(r"^(.*?)\s*\^\s*([0-9]+(?:\.[0-9]+)?)$")


def lines(text: str) -> list[str]:
    """A box of terms: one per line, or separated by commas or semicolons."""
    return [t for t in (one_line(x) for x in re.split(r"[\n,;]", text)) if t]


def keywords_from(text: str, before: tuple[Keyword, ...] = ()) -> list[Any]:
    """The keyword box: one per line (or comma), "term ^2" to weigh it double. A term kept
    from before keeps its own synonyms."""
    synonyms = {k.term.casefold(): k.synonyms for k in before}
    out: list[Any] = []
    for line in lines(text):
        m = _BOOST.match(line)
        term, weight = (m.group(1), float(m.group(2))) if m else (line, 1.0)
        syn = synonyms.get(term.casefold(), ())
        if weight == 1.0 and not syn:
            out.append(term)
        else:
            out.append({"term": term, "weight": weight, "synonyms": list(syn)})
    return out


def keywords_text(sub: Subscriber) -> str:
    """The keyword box as a subscriber's keywords fill it."""
    return "\n".join(k.term if k.weight == 1.0 else f"{k.term} ^{k.weight:g}" for k in sub.keywords)


def categories_from(text: str) -> list[str]:
    return text.replace(",", " ").split()


def _given(value: object) -> bool:
    if isinstance(value, str):
        return bool(value.strip())
    if isinstance(value, list | tuple):
        return bool(value)
    return value is not None


def subscriber_from(fields: Mapping[str, Any]) -> Subscriber:
    """A subscriber from entered fields, named as in the subscriber file. A field left empty
    is left out, so the file's default applies; ValueError says what is wrong, in the file's
    words."""
    entry = {k: list(v) if isinstance(v, tuple) else v for k, v in fields.items() if _given(v)}
    entry.setdefault("email", fields.get("email"))
    return parse_entry(entry)


def problems(fields: Mapping[str, Any]) -> dict[str, str]:
    """Each entered field's problem (empty: none), every field checked on its own, so a form
    with several mistakes says all of them, each beside its field."""
    out: dict[str, str] = {}
    if "keywords" in fields and not _given(fields["keywords"]) and not fields.get("trending"):
        out["keywords"] = "Enter at least one keyword."
    for key, value in fields.items():
        if not _given(value) and key != "email":
            continue
        entry = {
            "email": "someone@example.org",  # any good one: each field is judged alone
            "keywords": ["x"],
            key: list(value) if isinstance(value, tuple) else value,
        }
        try:
            parse_entry(entry)
        except ValueError as exc:
            out[key] = _beside(readable(exc), key)
    return out


def _beside(message: str, key: str) -> str:
    """A message without the field's own name, which the label beside it already says."""
    for prefix in (f"'{key}': ", f"'{key}' "):
        if message.lower().startswith(prefix.lower()):
            message = message[len(prefix) :]
            return message[:1].upper() + message[1:]
    return message


def readable(exc: Exception) -> str:
    """A validation message as a person at a form reads it."""
    text = str(exc).replace("'keywords' must be a non-empty list", "Enter at least one keyword")
    text = text.replace("invalid email address", "That is not an email address:")
    return text[:1].upper() + text[1:]
