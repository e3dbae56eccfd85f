"""The day's most upvoted papers for a profile that asks for them (`trending`), beside its
personal picks: the listing's readers' favourites, whatever they are about. A paper nobody
upvoted (a source without upvotes: arXiv alone) is never trending; a profile's exclusions
and categories still veto; and a card still says which of the reader's keywords the paper
matched, if any."""

from __future__ import annotations

from collections.abc import Container

from ..domain.digest import Ranked
from .index import Found, Listing, Rarity
from .profile import Profile
from .select import _ranked, _score, vetoes


def trending(
    profile: Profile,
    listing: Listing,
    rarity: Rarity,
    count: int,
    skip: Container[str],
) -> list[Ranked]:
    """The `count` most upvoted papers of `listing` that the profile does not veto and that
    are not in `skip` (sent before, or picked for this digest), each explained by the
    profile's keywords that occur in it (none: no points)."""
    if count <= 0:
        return []
    vetoed = vetoes(profile, listing) if profile.categories or profile.exclude else set()
    out: list[Ranked] = []
    taken: set[str] = set()
    for n in listing.voted:
        key = listing.keys[n]
        if n in vetoed or key in skip or key in taken:
            continue
        taken.add(key)
        found: list[Found] = []
        for concept in profile.concepts:
            hit = listing.hits(concept).get(n)
            if hit is not None:
                r = rarity(concept)
                found.append((concept.weight * r * hit.strength, concept, hit, r))
        found.sort(key=lambda f: -f[0])
        out.append(_ranked(listing, n, _score(found) if found else 0.0, found, (), (0.0, 0.0)))
        if len(out) == count:
            break
    return out
