"""The one view of a paper (Card) that both the HTML and the text part render, at four levels
of detail; what is the same for every reader of a paper is worked out once."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from ..domain.digest import RATED, Ranked
from ..domain.paper import Paper
from ..domain.text import one_line
from .text import ABSTRACT_CHARS, SHORT_CHARS, plain_math, short_authors, trim_words

# Detail levels of a card, richest first; the size budget lowers the least relevant cards first.
# LINE is one line (number, linked title, stats) for a digest too large for anything more.
FULL, SHORT, BARE, LINE = 3, 2, 1, 0


@dataclass(frozen=True, slots=True)
class Link:
    label: str
    url: str


@dataclass(frozen=True, slots=True)
class Card:
    """One paper as the reader sees it; both templates render exactly this."""

    number: int
    title: str
    url: str | None
    authors: str
    organization: str | None
    upvotes: int | None
    stars: int | None
    chips: tuple[str, ...]
    followed: bool
    because: str | None  # the reader's rating that moved it ("like “…”, which you liked")
    blurb: str
    links: tuple[Link, ...]
    detail: int

    @property
    def stats(self) -> list[str]:
        out = []
        if self.upvotes:
            out.append(f"{self.upvotes:,} upvote{'' if self.upvotes == 1 else 's'}")
        if self.stars:
            out.append(f"{self.stars:,} GitHub star{'' if self.stars == 1 else 's'}")
        return out


def blurb(ranked: Ranked, detail: int) -> str:
    """The listing's one-line AI summary where it has one, else the abstract, trimmed."""
    return paper_blurb(ranked.paper, detail)


# A paper is shown to many subscribers: what is the same for each is worked out once.
@lru_cache(maxsize=8192)
def paper_blurb(paper: Paper, detail: int) -> str:
    if detail <= BARE:
        return ""
    text = plain_math(one_line(paper.ai_summary or "") or one_line(paper.abstract))
    return trim_words(text, ABSTRACT_CHARS if detail == FULL else SHORT_CHARS)


@dataclass(frozen=True, slots=True)
class Face:
    """What every card of a paper shows, whoever it is for."""

    title: str
    authors: str
    organization: str | None
    links: tuple[Link, ...]


@lru_cache(maxsize=4096)
def face(p: Paper) -> Face:
    links = [
        Link(label, url)
        for label, url in (
            ("Paper page", p.url),
            ("PDF", p.pdf_url),
            ("Code", p.code_url),
            ("Project", p.project_url),
            ("Hugging Face", p.discussion_url),
        )
        if url
    ]
    return Face(
        title=plain_math(one_line(p.title)),
        authors=short_authors([a for a in map(one_line, p.authors) if a]),
        organization=one_line(p.organization or "") or None,
        links=tuple(links),
    )


def card(number: int, ranked: Ranked, detail: int = FULL, rate: tuple[Link, ...] = ()) -> Card:
    """Paper `ranked` as the `number`th card, at `detail`; `rate` are the reader's "more like
    this" and "less like this" links for it, after the paper's own."""
    p = ranked.paper
    f = face(p)
    return Card(
        number=number,
        title=f.title,
        url=p.url,
        authors=f.authors,
        organization=f.organization,
        upvotes=p.upvotes,
        stars=p.github_stars,
        chips=tuple(t for t in map(one_line, ranked.matched_terms) if t),
        followed=ranked.by_followed_author,
        because=next((one_line(m.term) for m in ranked.matches if m.field == RATED), None),
        blurb=paper_blurb(p, detail),
        links=f.links + rate,
        detail=detail,
    )
