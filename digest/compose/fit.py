"""The size budget: Gmail clips an HTML part past 102 KB and hides the rest (the footer and its
unsubscribe link with it) behind "View entire message", so the least relevant cards are
shortened until the part fits."""

from __future__ import annotations

from collections.abc import Sequence

from ..domain.digest import Ranked
from .cards import BARE, LINE, blurb
from .mime import html_body

# Gmail clips an HTML part past 102 KB; measured as sent (quoted-printable), with room to spare.
GMAIL_CLIP_BYTES = 102 * 1024
HTML_BUDGET = 100 * 1024


def html_size(html: str) -> int:
    """Bytes of the HTML part as sent, which is what a clipping limit sees."""
    return len(html_body(html).data)


# What a bare card costs beyond its one-line form: authors, chips, links and their inline styles.
BARE_CARD_BYTES = 1500
BLURB_MARKUP_BYTES = 150


def lower_details(papers: Sequence[Ranked], details: list[int], excess: int) -> bool:
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
