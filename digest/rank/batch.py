"""`choose` for a whole batch of profiles at once: every (profile, paper) find scored, cut and
ordered in a few array operations, instead of a Python loop over each profile's finds.

The arithmetic is `select`'s, in the same order (a paper's finds strongest first, added one
by one from zero), so each profile gets exactly what `choose` gives it: the tests compare the
two on the dev set's profiles and on generated ones."""

from __future__ import annotations

from collections.abc import Collection, Sequence

import numpy as np

from ..domain.digest import Ranked
from .index import FURTHER, Found, Listing, Rarity
from .profile import Profile
from .select import AUTHOR_POINTS, _followed, _ranked, in_context, vetoes
from .taste import Pull, Taste, pull


def choose_many(
    profiles: Sequence[Profile],
    listing: Listing,
    rarity: Rarity,
    skips: Sequence[Collection[str]],
    limits: Sequence[int],
    tastes: Sequence[Taste | None] | None = None,
) -> list[tuple[list[Ranked], list[str]]]:
    """For each profile, what `choose(profile, listing, rarity, skip, limit)` returns, its
    picks explained.

    Each find is an entry (cell = profile row * papers + paper, points, the Found); a
    followed paper adds an entry of no points that carries the author bonus. Entries in a
    vetoed or skipped cell are dropped; sorting by cell, strongest first, puts each cell's
    finds in the order `select` adds them up.

    A profile with ratings (`tastes`) adds an entry of no points for each paper as like a
    liked paper as NEAR (`rank.taste`), and each of its entries gets its ratings' points."""
    width = len(listing)
    cells: list[np.ndarray] = []
    points: list[np.ndarray] = []
    finds: list[np.ndarray] = []
    bonus_cells: list[int] = []
    bonus: list[float] = []
    dropped: list[int] = []
    followed: list[dict[int, list[str]]] = []
    positions = listing.positions
    counts: list[int] = []
    pulls: dict[int, Pull] = {}
    near_cells: list[int] = []
    for b, (profile, skip) in enumerate(zip(profiles, skips, strict=True)):
        base = b * width
        count = 0
        for concept in profile.concepts:
            idx, pts, found = listing.columns(concept, rarity)
            if len(idx):
                cells.append(idx)
                points.append(pts)
                finds.append(found)
                count += len(idx)
        counts.append(count)
        vetoed = vetoes(profile, listing)
        dropped.extend(base + n for n in vetoed)
        dropped.extend(base + n for key in skip for n in positions.get(key, ()))
        authors = _followed(profile, listing, vetoed)
        followed.append(authors)
        for n, written in authors.items():
            bonus_cells.append(base + n)
            bonus.append(AUTHOR_POINTS * len(written))
        taste = tastes[b] if tastes is not None else None
        if taste:
            pulled = pulls[b] = pull(listing.context, taste)
            for n in pulled.near.tolist():
                if n not in vetoed:  # a skipped one is dropped below, with the others
                    near_cells.append(base + n)
                    bonus_cells.append(base + n)
                    bonus.append(0.0)
    none = np.empty(len(bonus_cells), dtype=object)
    bases = np.repeat(np.arange(len(counts), dtype=np.int64) * width, counts)
    cell = np.concatenate([*cells, np.array(bonus_cells, dtype=np.int64)])
    cell[: len(bases)] += bases
    point = np.concatenate([*points, np.zeros(len(bonus_cells))])
    found = np.concatenate([*finds, none])
    extra = np.concatenate([np.zeros(len(cell) - len(bonus_cells)), np.array(bonus)])
    if dropped:
        keep = ~np.isin(cell, np.array(dropped, dtype=np.int64))
        cell, point, found, extra = cell[keep], point[keep], found[keep], extra[keep]
    order = np.lexsort((-point, cell))  # stable: equal points keep the profile's order
    cell, point, found, extra = cell[order], point[order], found[order], extra[order]
    new = np.empty(len(cell), dtype=bool)
    new[:1] = True
    np.not_equal(cell[1:], cell[:-1], out=new[1:])
    starts = np.flatnonzero(new)
    ids = np.cumsum(new) - 1
    rank = np.arange(len(cell)) - starts[ids]
    further = np.array([FURTHER**i for i in range(int(rank.max(initial=0)) + 1)])
    score = np.bincount(ids, weights=point * further[rank], minlength=len(starts))
    added = np.bincount(ids, weights=extra, minlength=len(starts))
    score = score + added  # x + 0.0 is x: unchanged where nothing is followed
    ends = np.append(starts[1:], len(cell))
    row, paper = np.divmod(cell[starts], width)
    is_followed = added > 0
    floor = np.array([p.min_score for p in profiles] or [0.0])[row]
    ok = is_followed | (score >= floor)
    brought = np.zeros(len(starts), dtype=bool)
    if near_cells:
        brought = ~ok & np.isin(cell[starts], np.array(near_cells, dtype=np.int64))
        ok |= brought
    # by profile, then in keyword order: what the whole-profile fit reorders
    quantized = np.rint(score * 1000)  # the key `select` sorts by: round(score * 1000)
    order = np.flatnonzero(ok)
    order = order[
        np.lexsort((listing.tie[paper[order]], -quantized[order], ~is_followed[order], row[order]))
    ]
    row, paper, score, is_followed = row[order], paper[order], score[order], is_followed[order]
    brought = brought[order]
    bounds = np.searchsorted(row, np.arange(len(profiles) + 1)).tolist()
    rated = None
    if pulls:
        points = np.zeros((len(profiles), width))
        for b, pulled in pulls.items():
            points[b] = pulled.points
        rated = points[row, paper]
    final, words, matches = in_context(
        listing, profiles, row, paper, score, is_followed, bounds, brought=brought, rated=rated
    )
    entries, picked = order[final].tolist(), paper[final].tolist()
    by_words, by_matches, scores = (
        words[final].tolist(),
        matches[final].tolist(),
        score[final].tolist(),
    )
    first, last, finds_ = starts.tolist(), ends.tolist(), found.tolist()
    keys = listing.keys
    out = []
    for b, limit in enumerate(limits):
        at, end = bounds[b], bounds[b + 1]
        cut = min(end, at + limit)
        top = []
        for i in range(at, cut):
            n, u = picked[i], entries[i]
            per: list[Found] = [f for f in finds_[first[u] : last[u]] if f is not None]
            authors = tuple(followed[b].get(n, ()))
            parts = (by_words[i], by_matches[i])
            why = pulls[b].why(n) if b in pulls else None
            top.append(_ranked(listing, n, scores[i], per, authors, parts, why))
        out.append((top, [keys[n] for n in picked[cut:end]]))
    return out
