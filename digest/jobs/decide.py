"""Deciding each subscriber's digest: the run's listings indexed once for everyone, what is
new to a subscriber (not in their ledger) ranked and capped, and the Message-ID fixed with
the decision."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date

from .. import store
from ..domain.digest import MORE, Digest
from ..domain.paper import Paper
from ..domain.subscriber import Subscriber
from ..rank.batch import choose_many
from ..rank.index import Listing, Rarity
from ..rank.profile import compile_profile
from ..rank.semantic import MODEL
from ..rank.taste import Taste, taste_of
from ..rank.trending import trending
from ..store import Tx
from .embed import embed_rated, understood
from .plan import week_of

REFERENCE_PAPERS = 3000  # how many of the store's latest papers teach the ranker rarity
RATINGS_READ = 200  # a reader's latest ratings rank their digests; older ones stay, unread


def listing_for(conn: Tx, candidates: Sequence[Paper]) -> tuple[Listing, Rarity]:
    """The candidates indexed once for every subscriber, and term rarity learned from the
    papers the store has seen (which include the candidates: the listing is stored first)."""
    listing = Listing(candidates)
    indexed = {i.paper.key: i for i in listing.indexed}
    reference = [indexed.get(p.key, p) for p in store.papers.recent(conn, REFERENCE_PAPERS)]
    return listing, Rarity(Listing(reference or listing.indexed))


def decide(
    conn: Tx,
    subscribers: Sequence[Subscriber],
    listing: Listing,
    rarity: Rarity,
    day: date,
    domain: str,
    *,
    start: date,
    since: date | None = None,
) -> list[Digest]:
    """Each subscriber's digest: what is new to them (not in their ledger), ranked, capped,
    its Message-ID named in `domain`. `start` is the first day of the listing's window: what
    a digest passed over below its cap since then is not decided again."""
    sent = store.outbox.claimed(conn, [s.email for s in subscribers], listing.keys, start)
    tastes = tastes_of(conn, subscribers, semantic=listing.context.semantic)
    return digests_for(subscribers, sent, listing, rarity, day, domain, since=since, tastes=tastes)


def tastes_of(
    conn: Tx, subscribers: Sequence[Subscriber], *, semantic: bool = False
) -> dict[str, Taste]:
    """What each of `subscribers` who rated papers or named some (`papers`) likes and
    dislikes: their latest RATINGS_READ ratings, and the named papers the store holds as
    likes (unless the reader rated that paper since); in the `semantic` mode, with those
    papers' vectors."""
    rated = store.ratings.of(conn, [s.email for s in subscribers], RATINGS_READ)
    named = {i for s in subscribers for i in s.papers}
    held = store.seeds.by_arxiv_id(conn, named) if named else {}
    out: dict[str, Taste] = {}
    for sub in subscribers:
        mine = rated.get(sub.email, [])
        keys = {p.key for p, _ in mine}
        seeds = [(held[i], MORE) for i in sub.papers if i in held and held[i].key not in keys]
        if mine or seeds:
            out[sub.email] = taste_of([*mine, *seeds])
    if semantic and out:  # read only: a run stores them before deciding (jobs.embed)
        rated = {p.paper.key for t in out.values() for p in (*t.liked, *t.disliked)}
        vectors = store.embeddings.of(conn, rated, MODEL)
        out = {email: replace(t, vectors=vectors) for email, t in out.items()}
    return out


def digests_for(
    subscribers: Sequence[Subscriber],
    sent: Mapping[str, Collection[str]],
    listing: Listing,
    rarity: Rarity,
    day: date,
    domain: str,
    *,
    since: date | None = None,
    tastes: Mapping[str, Taste] | None = None,
) -> list[Digest]:
    """`decide` once each subscriber's ledger is read (`sent`: the keys each address has
    claimed) and their ratings (`tastes`, by address): pure, and all the batch's profiles
    ranked at once."""
    tastes = tastes or {}
    skips = [_skipped(sent[s.email], tastes.get(s.email)) for s in subscribers]
    profiles = [compile_profile(s) for s in subscribers]
    chosen = choose_many(
        profiles,
        listing,
        rarity,
        skips,
        [s.max_papers for s in subscribers],
        [tastes.get(s.email) for s in subscribers] if tastes else None,
    )
    out = []
    for sub, profile, skip, (top, rest) in zip(subscribers, profiles, skips, chosen, strict=True):
        picked = {r.paper.key for r in top}
        hot = trending(profile, listing, rarity, sub.trending, SkipBoth(skip, picked))
        if top or hot:
            shown = {r.paper.key for r in hot}
            over = tuple(k for k in rest if k not in shown)
            out.append(
                Digest.decided(sub, day, top, domain, passed_over=over, since=since, trending=hot)
            )
    return out


class SkipBoth:
    """What a trending section skips: what the reader was sent or rated, and this digest's
    own picks (two sets, not copied into one for each of thousands of readers)."""

    def __init__(self, sent: Collection[str], picked: set[str]) -> None:
        self.sent, self.picked = sent, picked

    def __contains__(self, key: object) -> bool:
        return key in self.picked or key in self.sent


def _skipped(sent: Collection[str], taste: Taste | None) -> Collection[str]:
    """What a reader is not sent: what they were sent, and the papers they rated or named."""
    return {*sent, *taste.keys} if taste else sent


@dataclass
class Decider:
    """The run's listings, indexed once for every subscriber: the window's for daily digests,
    the week's for weekly ones; and the sender's domain, which names every Message-ID."""

    day: date
    start: date  # the first day of the run's window
    daily: Listing
    rarity: Rarity
    weekly: Listing | None
    domain: str

    @classmethod
    def of(cls, conn: Tx, days: Sequence[date], weekly: bool, domain: str) -> Decider:
        listing, rarity = listing_for(conn, store.papers.listed(conn, days))
        week = Listing(store.papers.listed(conn, week_of(days[-1]))) if weekly else None
        return cls(days[-1], min(days), listing, rarity, week, domain)

    @property
    def papers(self) -> list[Paper]:
        """Every paper of the run's listings."""
        listings = [self.daily, *([self.weekly] if self.weekly is not None else [])]
        return [i.paper for listing in listings for i in listing.indexed]

    def understand(self, conn: Tx, *, compute: bool) -> None:
        """The semantic mode: the listings compare papers by their vectors, computed where
        missing (`compute`, a one-off look) or as `embed` stored them (a run's processes)."""
        self.daily = understood(conn, self.daily, compute=compute)
        if self.weekly is not None:
            self.weekly = understood(conn, self.weekly, compute=compute)
        if compute:
            embed_rated(conn)

    def decide(self, conn: Tx, subs: Sequence[Subscriber]) -> list[Digest]:
        """Daily digests over the run's window, weekly ones over the week ending its last day."""
        daily = [s for s in subs if s.frequency != "weekly" or self.weekly is None]
        digests = decide(
            conn, daily, self.daily, self.rarity, self.day, self.domain, start=self.start
        )
        weekly = [s for s in subs if s.frequency == "weekly" and self.weekly is not None]
        if weekly:
            assert self.weekly is not None
            since = week_of(self.day)[0]
            digests += decide(
                conn,
                weekly,
                self.weekly,
                self.rarity,
                self.day,
                self.domain,
                start=min(since, self.start),
                since=since,
            )
        return digests
