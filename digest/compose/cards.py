"""The one view of a paper (Card) that both the HTML and the text part render, at four levels
of detail; what is the same for every reader of a paper is worked out once."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from ..domain.digest import AUTHORS, RATED, Match, Ranked
from ..domain.paper import Paper
from ..domain.text import one_line
from .text import ABSTRACT_CHARS, SHORT_CHARS, plain_math, short_authors, trim_words

# Detail levels of a card, richest first; the size budget lowers the least relevant cards first.
# LINE is one line (number, linked title, stats) for a digest too large for anything more.
FULL, SHORT, BARE, LINE = 3, 2, 1, 0

# Counts below these say little ("1 upvote"): a card shows them from here up.
UPVOTES_SHOWN, STARS_SHOWN = 5, 10

# Where a keyword was found, as a reason reads it, in the order a reason names them.
PLACES = {"title": "the title", "keywords": "its keywords", "abstract": "the abstract"}


@dataclass(frozen=True, slots=True)
class Link:
    label: str
    url: str


@dataclass(frozen=True, slots=True)
class Why:
    """One reason a paper was picked: a keyword (`term`) found `where`, written as `via`
    when a synonym was found instead; or, with `where` empty, a sentence of its own (a
    followed author, a rating)."""

    term: str
    via: str | None = None
    where: str = ""

    def __str__(self) -> str:
        if not self.where:
            return self.term
        via = f", as “{self.via}”," if self.via else ""
        return f"{self.term}{via} in {self.where}"


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
    links: tuple[Link, ...]  # the paper's own (not the title's), then the rating links
    detail: int
    why: tuple[Why, ...] = ()
    trending: bool = False  # in the trending section: its upvotes are why it is there

    @property
    def stats(self) -> list[str]:
        out = []
        if self.upvotes and (self.upvotes >= UPVOTES_SHOWN or self.trending):
            out.append(f"{self.upvotes:,} upvote{'' if self.upvotes == 1 else 's'}")
        if self.stars and self.stars >= STARS_SHOWN:
            out.append(f"{self.stars:,} GitHub stars")
        return out

    @property
    def reason(self) -> str:
        """The reasons in one sentence: "world model in the title; offline RL, as “offline
        reinforcement learning”, in the abstract"."""
        return "; ".join(map(str, self.why))

    @property
    def byline(self) -> str:
        """Who and where, and how the listing's readers took it, on one line."""
        return " · ".join(x for x in (self.authors, self.organization or "", *self.stats) if x)


def reasons(ranked: Ranked, limit: int = 3) -> tuple[Why, ...]:
    """Why `ranked` was picked, strongest first: its keywords, each with the most telling
    place it was found (the title before its keywords before the abstract) and the synonym
    found there; a followed author; a rating that moved it."""
    found: dict[str, list[Match]] = {}
    for m in ranked.matches:
        if m.keyword:
            found.setdefault(m.term, []).append(m)
    out = []
    order = list(PLACES)
    for term in ranked.matched_terms[:limit]:
        best = min(found[term], key=lambda m: order.index(m.field) if m.field in order else 9)
        via = best.via[0] if best.via else None
        where = PLACES.get(best.field, best.field)
        out.append(Why(one_line(term), one_line(via) if via else None, where))
    for m in ranked.matches:
        if m.field == AUTHORS:
            out.append(Why(f"by {one_line(m.term)}, whom you follow"))
            break
    for m in ranked.matches:
        if m.field == RATED:
            out.append(Why(one_line(m.term)))
            break
    return tuple(w for w in out if w.term)


def blurb(ranked: Ranked, detail: int) -> str:
    """The listing's one-line AI summary where it has one, else the abstract, trimmed."""
    return paper_blurb(ranked.paper, detail, room(reasons(ranked)))


# A paper is shown to many subscribers: what is the same for each is worked out once.
@lru_cache(maxsize=8192)
def paper_blurb(paper: Paper, detail: int, room: int = ABSTRACT_CHARS) -> str:
    if detail <= BARE:
        return ""
    text = plain_math(one_line(paper.ai_summary or "") or one_line(paper.abstract))
    return trim_words(text, room if detail == FULL else SHORT_CHARS)


def room(why: tuple[Why, ...]) -> int:
    """What a full blurb may take beside the reasons before it: together about three lines
    on a phone."""
    said = len("; ".join(map(str, why)))
    return max(SHORT_CHARS, ABSTRACT_CHARS - said)


@dataclass(frozen=True, slots=True)
class Face:
    """What every card of a paper shows, whoever it is for."""

    title: str
    authors: str
    organization: str | None
    links: tuple[Link, ...]


@lru_cache(maxsize=4096)
def face(p: Paper) -> Face:
    """The paper's own links leave out the title's: the title is the link to the paper."""
    links = [
        Link(label, url)
        for label, url in (
            ("PDF", p.pdf_url),
            ("Code", p.code_url),
            ("Project", p.project_url),
            ("Hugging Face", p.discussion_url),
        )
        if url and url != p.url
    ]
    return Face(
        title=plain_math(one_line(p.title)),
        authors=short_authors([a for a in map(one_line, p.authors) if a]),
        organization=one_line(p.organization or "") or None,
        links=tuple(links),
    )


def card(
    number: int,
    ranked: Ranked,
    detail: int = FULL,
    rate: tuple[Link, ...] = (),
    *,
    trending: bool = False,
) -> Card:
    """Paper `ranked` as the `number`th card, at `detail`; `rate` are the reader's "more like
    this" and "less like this" links for it, after the paper's own; `trending`: a card of
    the trending section."""
    p = ranked.paper
    f = face(p)
    why = reasons(ranked)
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
        blurb=paper_blurb(p, detail, room(why)),
        links=f.links + rate,
        detail=detail,
        why=why,
        trending=trending,
    )
