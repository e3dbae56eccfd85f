"""Keyword ranking: what matches, what outranks what, and that the explanation adds up."""

from __future__ import annotations

from digest.models import Keyword, Paper, Subscriber, canonical_key
from digest.rank import compile_profile, index_paper, rank


def paper(title: str, abstract: str = "", *, ai_keywords=(), authors=(), upvotes=0) -> Paper:
    return Paper(
        key=canonical_key(None, title),
        source="t",
        source_id="x",
        title=title,
        abstract=abstract,
        ai_keywords=tuple(ai_keywords),
        authors=tuple(authors),
        upvotes=upvotes,
    )


def ranked_titles(sub: Subscriber, papers: list[Paper]) -> list[str]:
    return [r.paper.title for r in rank(compile_profile(sub), [index_paper(p) for p in papers])]


def sub(*keywords, **kw) -> Subscriber:
    kws = tuple(k if isinstance(k, Keyword) else Keyword(k) for k in keywords)
    return Subscriber(email="a@example.org", keywords=kws, **kw)


def test_case_hyphen_and_plural_do_not_matter() -> None:
    papers = [
        paper("Scaling World-Models"),
        paper("WORLD MODEL learning"),
        paper("Worlds of models"),
    ]
    assert sorted(ranked_titles(sub("world models"), papers)) == [
        "Scaling World-Models",
        "WORLD MODEL learning",
    ]


def test_plural_policies_matches_policy() -> None:
    assert ranked_titles(sub("diffusion policy"), [paper("Diffusion Policies for Robots")]) == [
        "Diffusion Policies for Robots"
    ]


def test_a_phrase_matches_only_as_a_phrase() -> None:
    scattered = paper("A model of the world", "We model the world with a world-scale model.")
    assert ranked_titles(sub("world model"), [scattered]) == []


def test_single_words_match_whole_words_only() -> None:
    assert ranked_titles(
        sub("RL"), [paper("Controlling robots"), paper("Offline RL at scale")]
    ) == ["Offline RL at scale"]


def test_papers_matching_nothing_are_not_candidates() -> None:
    assert ranked_titles(sub("quantum"), [paper("Robots"), paper("Diffusion")]) == []


def test_title_outranks_abstract_and_weight_counts() -> None:
    in_title = paper("Offline RL made simple", "We study tabular methods.")
    in_abstract = paper("Simple methods", "We study offline RL in tabular settings.")
    assert ranked_titles(sub("offline RL"), [in_abstract, in_title]) == [
        "Offline RL made simple",
        "Simple methods",
    ]
    heavy = sub(Keyword("diffusion", 3.0), Keyword("agent", 1.0))
    assert ranked_titles(heavy, [paper("An agent"), paper("A diffusion model")]) == [
        "A diffusion model",
        "An agent",
    ]


def test_more_keywords_beat_one_keyword_repeated() -> None:
    many = paper("World models for offline RL robots")
    repeated = paper("Robots", "robot robot robot robot robot robot robot robot robot")
    s = sub("world model", "offline RL", "robot")
    assert ranked_titles(s, [repeated, many])[0] == "World models for offline RL robots"


def test_exclude_vetoes_whatever_else_matches() -> None:
    papers = [paper("A survey of world models"), paper("World models in practice")]
    assert ranked_titles(sub("world model", exclude=("survey",)), papers) == [
        "World models in practice"
    ]


def test_followed_authors_rank_first() -> None:
    papers = [
        paper("World models, world models", upvotes=99),
        paper("Robot world model", authors=["Sergey Levine", "X"]),
    ]
    titles = ranked_titles(sub("world model", authors=("sergey levine",)), papers)
    assert titles == ["Robot world model", "World models, world models"]


def test_upvotes_break_ties_only() -> None:
    papers = [
        paper("Agents one", upvotes=1),
        paper("Agents two", upvotes=50),
        paper("Agent agents in the title twice", upvotes=0),
    ]
    assert ranked_titles(sub("agent"), papers) == [
        "Agent agents in the title twice",
        "Agents two",
        "Agents one",
    ]


def test_listing_keywords_count_and_explanation_adds_up() -> None:
    p = paper(
        "Planning",
        "We plan with a world model. The world model is learned.",
        ai_keywords=["world models", "planning"],
    )
    (r,) = rank(compile_profile(sub("world model", "planning")), [index_paper(p)])
    fields = {(m.term, m.field): m.count for m in r.matches}
    assert fields == {
        ("world model", "keywords"): 1,
        ("world model", "abstract"): 2,
        ("planning", "title"): 1,
        ("planning", "keywords"): 1,
    }
    assert abs(sum(m.points for m in r.matches) - r.score) < 1e-3
    assert r.matched_terms[0] in {"planning", "world model"}


def test_a_phrase_never_spans_two_listing_keywords() -> None:
    p = paper("Unrelated", ai_keywords=["world", "model predictive control"])
    assert ranked_titles(sub("world model"), [p]) == []
