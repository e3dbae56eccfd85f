"""What ranking finds (Match, Ranked), what a run decides for one subscriber (Digest), and a
message as the outbox keeps it and a transport sends it (Outgoing)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from .paper import Paper
from .subscriber import Subscriber

# A message's status in the outbox. pending: decided and stored, not accepted yet; sent: the
# relay accepted it; failed: refused for good, the relay's answer kept; cancelled: the
# subscriber went away or was suppressed before it could go out.
PENDING, SENT, FAILED, CANCELLED = "pending", "sent", "failed", "cancelled"


# Match.field of points that are not a keyword's: a followed author's, the whole-profile
# fit's (rank.context: the profile's words together, and likeness to its best matches), and
# the reader's ratings' (rank.taste: likeness to a paper they rated).
AUTHORS, CONTEXT, RATED = "authors", "context", "rated"
WHOLE_PROFILE = "whole profile"

# A reader's rating of a paper: "more like this" or "less like this".
MORE, LESS = "more", "less"
VERDICTS = (MORE, LESS)


@dataclass(frozen=True, slots=True)
class Match:
    """One keyword found in one field of a paper, and the points it earned there.

    `via` names the synonyms that were found instead of the keyword as written; `rarity`
    is the keyword's weight for being specific (1.0 for a term almost no paper uses)."""

    term: str
    field: str
    count: int
    points: float
    via: tuple[str, ...] = ()
    rarity: float = 1.0

    @property
    def keyword(self) -> bool:
        """Points a keyword earned (not a followed author's, the fit's or a rating's)."""
        return self.field not in (AUTHORS, CONTEXT, RATED)


@dataclass(frozen=True, slots=True)
class Ranked:
    paper: Paper
    score: float
    matches: tuple[Match, ...]
    by_followed_author: bool = False

    @property
    def matched_terms(self) -> list[str]:
        """Matched keywords, strongest first, each once."""
        best: dict[str, float] = {}
        for m in self.matches:
            if m.keyword:
                best[m.term] = best.get(m.term, 0.0) + m.points
        return sorted(best, key=lambda t: -best[t])


def message_id_for(email: str, day: date, keys: Iterable[str], domain: str) -> str:
    """Deterministic: the same decided digest always carries the same Message-ID, so a copy
    sent twice (relay accepted, process died before that was recorded) is recognizable, and a
    digest decided again unchanged after it failed reuses its outbox row."""
    joined = ",".join(sorted(keys))
    h = hashlib.sha256(f"{email}|{day}|{joined}".encode()).hexdigest()
    return f"<digest.{day:%Y%m%d}.{h[:20]}@{domain}>"


@dataclass(frozen=True, slots=True)
class Digest:
    """What one subscriber gets in one run: decided, with its Message-ID, before it is
    rendered, stored or sent."""

    subscriber: Subscriber
    day: date
    papers: tuple[Ranked, ...]
    message_id: str
    passed_over: tuple[str, ...] = ()  # keys that matched but ranked below max_papers
    since: date | None = None  # a weekly digest: the first day of the week it covers
    trending: tuple[Ranked, ...] = ()  # the most upvoted others, after the picks (`trending`)

    @classmethod
    def decided(
        cls,
        subscriber: Subscriber,
        day: date,
        papers: Iterable[Ranked],
        domain: str,
        *,
        passed_over: tuple[str, ...] = (),
        since: date | None = None,
        trending: Iterable[Ranked] = (),
    ) -> Digest:
        """The digest of `papers` (and `trending`), its Message-ID named in `domain` (the
        sender's)."""
        papers, trending = tuple(papers), tuple(trending)
        keys = (r.paper.key for r in (*papers, *trending))
        mid = message_id_for(subscriber.email, day, keys, domain)
        return cls(subscriber, day, papers, mid, passed_over, since, trending)

    @property
    def keys(self) -> list[str]:
        """The keys of the papers this digest carries, in either section: each is claimed
        in the ledger like any other, so never sent again, whichever section carried it."""
        return [r.paper.key for r in (*self.papers, *self.trending)]


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One message as a transport needs it: the exact bytes and where they go."""

    message_id: str
    recipient: str
    day: date
    subject: str
    raw: bytes
    attempts: int = 0
