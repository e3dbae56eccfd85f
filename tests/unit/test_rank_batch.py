"""The batch ranker (`choose_many`, array arithmetic over all profiles at once) gives every
profile exactly what the per-profile ranker gives it: the same papers in the same order, the
same scores and explanations, the same papers passed over."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import date

import pytest

from digest.domain.paper import Paper
from digest.domain.subscriber import Keyword, Subscriber
from digest.rank.batch import choose_many
from digest.rank.index import Listing, Rarity
from digest.rank.profile import compile_profile
from digest.rank.select import choose, explain
from digest.rank.taste import Taste
from digest.rank.terms import tokens
from digest.sources.sample import SampleSource

DAYS = (date(2025, 6, 26), date(2025, 11, 6))


@pytest.fixture(scope="module")
def papers() -> list[Paper]:
    source = SampleSource()
    rnd = random.Random(3)
    people = [f"Author {chr(65 + i)}. Person" for i in range(12)]
    # few upvote counts, so ties are common; authors and categories, for the rules on them
    return [
        replace(
            p,
            upvotes=rnd.choice((0, 1, 5, 5, 40)),
            authors=tuple(rnd.sample(people, rnd.randint(0, 3))),
            categories=rnd.choice(((), ("cs.RO",), ("cs.LG", "stat.ML"), ("cs.CV",))),
        )
        for day in DAYS
        for p in source.fetch(day)
    ]


def profiles(papers: list[Paper], count: int, seed: int) -> list[Subscriber]:
    """Profiles drawn from the papers' own words and authors, so most of them match."""
    rnd = random.Random(seed)
    words = sorted({t for p in papers for t in tokens(p.title) if len(t) > 3})
    phrases = [" ".join(tokens(p.title)[i : i + 2]) for p in papers for i in (0, 2)]
    names = sorted({a for p in papers for a in p.authors})
    out = []
    for i in range(count):
        terms = rnd.sample(words, rnd.randint(1, 6)) + rnd.sample(phrases, rnd.randint(0, 2))
        keywords = tuple(
            Keyword(t, rnd.choice((1.0, 1.0, 2.5)), tuple(rnd.sample(words, rnd.randint(0, 1))))
            for t in dict.fromkeys(terms)
        )
        out.append(
            Subscriber(
                email=f"s{i}@example.org",
                keywords=keywords,
                exclude=tuple(rnd.sample(words, 1)) if rnd.random() < 0.2 else (),
                authors=tuple(rnd.sample(names, 2)) if rnd.random() < 0.2 else (),
                max_papers=rnd.choice((1, 3, 10, 100)),
                min_score=rnd.choice((None, None, 0.0, 0.5)),
                categories=rnd.choice(((), (), ("cs.RO",), ("cs",), ("stat.ML", "cs.RO"))),
            )
        )
    return out


def tastes(listing: Listing, count: int, rnd: random.Random) -> list[Taste | None]:
    """Ratings for about half the profiles: papers of the listing itself (each is like
    itself, so it comes in unless skipped) and of another day."""
    out: list[Taste | None] = []
    for _ in range(count):
        if rnd.random() < 0.5:
            out.append(None)
            continue
        rated = rnd.sample(listing.indexed, rnd.randint(1, 6))
        cut = rnd.randint(0, len(rated))
        out.append(Taste(tuple(rated[:cut]), tuple(rated[cut:])))
    return out


@pytest.mark.parametrize("rated", [False, True])
@pytest.mark.parametrize("batch", [1, 7, 250])
def test_every_profile_gets_what_the_per_profile_ranker_gives_it(
    papers: list[Paper], batch: int, rated: bool
) -> None:
    listing = Listing(papers)
    rarity = Rarity(Listing(papers[::2]))
    subs = profiles(papers, 250, seed=batch)
    rnd = random.Random(batch)
    skips = [frozenset(rnd.sample(listing.keys, rnd.randint(0, 20))) for _ in subs]
    ratings = tastes(listing, len(subs), rnd) if rated else [None] * len(subs)
    compiled = [compile_profile(s) for s in subs]
    picked = brought = 0
    for at in range(0, len(subs), batch):
        part = slice(at, at + batch)
        got = choose_many(
            compiled[part],
            listing,
            rarity,
            skips[part],
            [s.max_papers for s in subs[part]],
            ratings[part] if rated else None,
        )
        for profile, skip, sub, taste, (top, rest) in zip(
            compiled[part], skips[part], subs[part], ratings[part], got, strict=True
        ):
            want_top, want_rest = choose(profile, listing, rarity, skip, sub.max_papers, taste)
            assert top == [explain(listing, s) for s in want_top], sub
            assert rest == want_rest, sub
            picked += len(top)
            brought += sum(not any(m.keyword for m in r.matches) for r in top)
    assert picked > len(subs)  # the profiles do pick papers: the comparison is not vacuous
    if rated:  # papers no keyword selected came in, by their likeness to a liked one
        assert brought > 0


def test_an_empty_batch_and_profiles_that_match_nothing(papers: list[Paper]) -> None:
    listing = Listing(papers)
    rarity = Rarity(listing)
    assert choose_many([], listing, rarity, [], []) == []
    nothing = compile_profile(Subscriber("a@example.org", (Keyword("zzzqqq"),)))
    assert choose_many([nothing, nothing], listing, rarity, [(), ()], [5, 5]) == [([], [])] * 2
