"""Scoring, picking and explaining: which papers a profile selects from a listing, best first,
and every point of each score as a Match."""

from __future__ import annotations

from collections.abc import Container, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..domain.digest import AUTHORS, CONTEXT, WHOLE_PROFILE, Match, Ranked
from .context import Parts
from .index import FURTHER, Found, Hit, Listing, Rarity
from .profile import Concept, Profile
from .taste import Taste, pull

AUTHOR_POINTS = 1.0


@dataclass(frozen=True, slots=True)
class Selected:
    """A paper the profile selects, scored but not yet explained (explaining costs more than
    scoring, and most selected papers fall below max_papers)."""

    n: int
    score: float
    authors: tuple[str, ...]  # the followed authors of this paper, as the profile writes them
    found: tuple[tuple[float, Concept, Hit, float], ...]  # (points, concept, hit, rarity)
    key: str
    context: Parts = (0.0, 0.0)  # whole-profile fit (rank.context), on top of `score`
    rated: Match | None = None  # the reader's ratings' points (rank.taste), on top too

    @property
    def followed(self) -> bool:
        return bool(self.authors)


def vetoes(profile: Profile, listing: Listing) -> set[int]:
    """The papers `profile` never takes, whatever else they match: in none of its categories,
    or hit by one of its exclusions."""
    vetoed: set[int] = set(listing.outside(profile.categories)) if profile.categories else set()
    for concept in profile.exclude:
        vetoed.update(listing.hits(concept))
    return vetoed


def _candidates(
    profile: Profile,
    listing: Listing,
    rarity: Rarity | None,
    skip: Container[str],
    taste: Taste | None = None,
) -> list[tuple[Any, ...]]:
    """What `select` picks, as sortable tuples (cheaper than a Selected for each of the many
    papers below a digest's cut). With a `taste`, the papers as like a liked paper as NEAR
    come in too (with what their keywords found, however little), and every paper gets its
    ratings' points (`rank.taste`)."""
    rarity = rarity or Rarity(listing)
    vetoed = vetoes(profile, listing)
    found: dict[int, list[tuple[float, Concept, Hit, float]]] = {}
    for concept in profile.concepts:
        for n, entry in listing.scored(concept, rarity(concept)):
            per = found.get(n)
            if per is None:
                found[n] = [entry]
            else:
                per.append(entry)
    for n in vetoed:  # most profiles veto nothing: cheaper than a check per find
        found.pop(n, None)
    followed = _followed(profile, listing, vetoed)
    pulled = pull(listing.context, taste) if taste else None
    near: set[int] = set(pulled.near.tolist()) - vetoed if pulled is not None else set()
    ranked = []
    keys = listing.keys
    upvotes = listing.upvotes
    min_score = profile.min_score
    for n in found.keys() | followed.keys() | near if followed or near else found.keys():
        key = keys[n]
        if key in skip:
            continue
        per = found.get(n, [])
        score = _score(per)
        authors = followed.get(n, ()) if followed else ()
        brought = False
        if authors:
            score += AUTHOR_POINTS * len(authors)
        elif score < min_score:
            if n not in near:
                continue
            brought = True  # a rating brought it in, not its keywords
        ranked.append(
            (not authors, -round(score * 1000), -upvotes[n], key, n, score, authors, per, brought)
        )
    ranked.sort(key=_sort_key)
    paper = np.array([c[4] for c in ranked], dtype=np.int64)
    order, words, matches = in_context(
        listing,
        [profile],
        np.zeros(len(ranked), dtype=np.int64),
        paper,
        np.array([c[5] for c in ranked], dtype=np.float64),
        np.array([not c[0] for c in ranked], dtype=bool),
        [0, len(ranked)],
        brought=np.array([c[8] for c in ranked], dtype=bool),
        rated=pulled.points[paper] if pulled is not None else None,
    )
    by_words, by_matches = words.tolist(), matches.tolist()
    return [
        (*ranked[i][:8], (by_words[i], by_matches[i]), pulled.why(ranked[i][4]) if pulled else None)
        for i in order.tolist()
    ]


def _sort_key(c: tuple[Any, ...]) -> tuple[Any, ...]:
    return c[:4]  # followed, score, upvotes, key: the key is unique


def in_context(
    listing: Listing,
    profiles: Sequence[Profile],
    row: np.ndarray,
    paper: np.ndarray,
    score: np.ndarray,
    followed: np.ndarray,
    bounds: Sequence[int],
    *,
    brought: np.ndarray | None = None,
    rated: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A batch's selected papers (entry i: paper `paper[i]` of profile `row[i]`, keyword
    score `score[i]`; each profile's entries together, from `bounds[b]`, strongest keyword
    match first) in their final order: by profile, followed authors' papers first, then by
    keyword score plus whole-profile fit (`rank.context`) plus the reader's ratings' points
    (`rated`), then upvotes and key. Entries `brought` in by a rating alone do not shape the
    fit. Returns that order (entry indices) and each entry's context points (profile words,
    best matches)."""
    keyed = ~followed & (score > 0)
    if brought is not None:
        keyed &= ~brought
    words, matches = listing.context.points([p.words for p in profiles], row, paper, bounds, keyed)
    fit = np.array([p.fit for p in profiles] or [True], dtype=bool)[row]
    words, matches = np.where(fit, words, 0.0), np.where(fit, matches, 0.0)
    total = (score + words) + matches
    if rated is not None:
        total = total + rated
    order = np.lexsort((listing.tie[paper], -np.rint(total * 1000), ~followed, row))
    return order, words, matches


def select(
    profile: Profile,
    listing: Listing,
    rarity: Rarity | None = None,
    skip: Container[str] = frozenset(),
    taste: Taste | None = None,
) -> list[Selected]:
    """Every paper of `listing` (but those keyed in `skip`) that the profile selects, best
    first. Rarity comes from `rarity`'s reference papers, or else from the listing itself."""
    return [_selected(c) for c in _candidates(profile, listing, rarity, skip, taste)]


def choose(
    profile: Profile,
    listing: Listing,
    rarity: Rarity | None,
    skip: Container[str],
    limit: int,
    taste: Taste | None = None,
) -> tuple[list[Selected], list[str]]:
    """The best `limit` papers `select` would pick, and the keys of the others it picks."""
    found = _candidates(profile, listing, rarity, skip, taste)
    return [_selected(c) for c in found[:limit]], [c[3] for c in found[limit:]]


def _selected(c: tuple[Any, ...]) -> Selected:
    *_, key, n, score, authors, per, parts, rated = c
    return Selected(n, score, tuple(authors), tuple(per), key, parts, rated)


def _score(per: list[Found]) -> float:
    """A paper's points from its finds (sorted here, strongest first; stable, so equal
    points keep the profile's order)."""
    if len(per) == 1:
        return per[0][0]
    if not per:
        return 0.0
    per.sort(key=_points, reverse=True)
    return _combined(per)


def _points(found: tuple[float, Concept, Hit, float]) -> float:
    return found[0]


_FURTHER = tuple(FURTHER**i for i in range(32))


def _combined(per: list[Found]) -> float:
    """The strongest keyword's points in full, each further one at FURTHER times the one
    before (`per` sorted strongest first)."""
    total = 0.0  # added one by one, as rank.batch adds (sum() compensates from 3.12 on)
    for i, (p, *_) in enumerate(per):
        total += p * (_FURTHER[i] if i < len(_FURTHER) else FURTHER**i)
    return total


def explain(listing: Listing, s: Selected) -> Ranked:
    """The selected paper with its points as Matches (`Listing.matches`): the strongest
    keyword in full and each further one at FURTHER times the one before, so a paper about
    one thing beats a paper that mentions several in passing. The Matches add up to the
    score."""
    return _ranked(listing, s.n, s.score, s.found, s.authors, s.context, s.rated)


def _ranked(
    listing: Listing,
    n: int,
    score: float,
    found: Sequence[Found],
    authors: tuple[str, ...],
    context: Parts,
    rated: Match | None = None,
) -> Ranked:
    if len(found) == 1:
        made = list(listing.matches(found[0], 0))
    else:
        made = []
        for i, one in enumerate(found):
            made += listing.matches(one, i)
    if authors:
        made += [Match(written, AUTHORS, 1, AUTHOR_POINTS) for written in authors]
    fit = round(context[0] + context[1], 4)
    if fit:
        made.append(Match(WHOLE_PROFILE, CONTEXT, 1, fit))
    if rated is not None:
        made.append(rated)
        fit += rated.points
    return Ranked(listing.indexed[n].paper, round(score + fit, 4), tuple(made), bool(authors))


def rank(
    profile: Profile,
    listing: Listing,
    rarity: Rarity | None = None,
    skip: Container[str] = frozenset(),
    taste: Taste | None = None,
) -> list[Ranked]:
    """The papers `select` picks, best first and explained."""
    return [explain(listing, s) for s in select(profile, listing, rarity, skip, taste)]


def _followed(profile: Profile, listing: Listing, vetoed: set[int]) -> dict[int, list[str]]:
    out: dict[int, list[str]] = {}
    if not profile.authors:
        return out
    for n, idx in enumerate(listing.indexed):
        if n in vetoed:
            continue
        for written, folded in profile.authors:
            if folded in idx.authors:
                out.setdefault(n, []).append(written)
    return out
