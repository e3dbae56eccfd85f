"""Keyword ranking: what matches, what outranks what, what is held back, and that the
explanation adds up."""

from __future__ import annotations

from dataclasses import replace

from digest.domain.paper import Paper, canonical_key
from digest.domain.subscriber import Keyword, Subscriber
from digest.rank.index import Listing, Rarity, index_paper
from digest.rank.profile import compile_profile
from digest.rank.select import rank
from digest.rank.taste import Taste

FILLER = "We study a problem and report results on standard tasks."


def paper(title: str, abstract: str = FILLER, *, ai_keywords=(), authors=(), upvotes=0) -> Paper:
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


def sub(*keywords, **kw) -> Subscriber:
    kws = tuple(k if isinstance(k, Keyword) else Keyword(k) for k in keywords)
    return Subscriber(email="a@example.org", keywords=kws, **kw)


def ranked(
    s: Subscriber, papers: list[Paper], reference: list[Paper] | None = None, *, fit: bool = False
):
    """What the profile ranks; by its keyword points alone unless `fit` (the keyword rules
    are tested apart from the whole-profile fit that reorders them)."""
    listing = Listing(papers)
    rarity = Rarity(Listing(reference)) if reference else None
    return rank(replace(compile_profile(s), fit=fit), listing, rarity)


def titles(s: Subscriber, papers: list[Paper], **kw) -> list[str]:
    return [r.paper.title for r in ranked(s, papers, **kw)]


def everything(*keywords, **kw) -> Subscriber:
    """A subscriber with no threshold, for tests of what matches at all."""
    return sub(*keywords, min_score=0.0, **kw)


def test_case_hyphen_and_plural_do_not_matter() -> None:
    papers = [paper("Scaling World-Models"), paper("WORLD MODEL learning"), paper("Worlds")]
    assert sorted(titles(everything("world models"), papers)) == [
        "Scaling World-Models",
        "WORLD MODEL learning",
    ]
    assert titles(everything("vision language action"), [paper("A Vision-Language-Action model")])


def test_inflections_do_not_matter() -> None:
    assert titles(everything("diffusion policy"), [paper("Diffusion Policies for Robots")])
    assert titles(everything("partially observable"), [paper("RL under partial observability")])


def test_a_thing_is_not_what_it_does() -> None:
    """ "computer use" is not "computed using" (Snowball folds both onto "comput us"), nor
    "transformer" "transforming"; their plurals, and the inflections of other words, still
    fold ("agents", "learned", "planning")."""
    computed = paper("Fast kernels", "The loss is computed using a kernel we transform.")
    assert not titles(everything("computer use"), [computed])
    assert not titles(everything("transformer"), [paper("Transforming images", "We transform.")])
    assert not titles(everything("optimizer"), [paper("Convex optimization", "We optimize.")])
    assert titles(everything("computer use"), [paper("Computer-use agents", "They use computers.")])
    assert titles(everything("transformer"), [paper("Transformers for video")])
    assert titles(everything("LLM agent"), [paper("LLM agents that plan")])
    assert titles(everything("planning"), [paper("Agents that plan", "A learned planner plans.")])
    assert titles(everything("learned dynamics"), [paper("Learning dynamics from video")])


def test_abbreviations_match_their_expansions_both_ways() -> None:
    cases = {
        "RL": "Offline reinforcement learning at scale",
        "VLA": "Scaling vision-language-action models",
        "LLM": "Large language models as judges",
        "MPC": "Learning model predictive control",
        "large language model": "LLMs can plan",
        "offline RL": "Conservative offline reinforcement learning",
        "multi-agent": "Multiagent coordination",
    }
    for keyword, title in cases.items():
        (r,) = ranked(everything(keyword), [paper(title)])
        assert r.matches[0].term == keyword
        assert r.matches[0].via, "the explanation names the synonym that matched"


def test_a_subscribers_own_synonyms_count() -> None:
    p = [paper("Agentless software engineering with SWE-bench")]
    assert not titles(everything("SWE agent"), p)
    own = Keyword("SWE agent", synonyms=("software engineering",))
    (r,) = ranked(everything(own), p)
    assert r.matches[0].via == ("software engineering",)


def test_a_phrase_matches_only_as_a_phrase() -> None:
    papers = [
        paper("World coordinates for model fitting"),  # scattered
        paper("Model of the world"),  # out of order
        paper("Worlds of models"),  # a function word between
        paper("A world model for driving"),
        paper("LLM-based web agents"),  # modifiers between are fine for "LLM agent"
    ]
    assert titles(everything("world model"), papers) == ["A world model for driving"]
    assert titles(everything("LLM agent"), papers) == ["LLM-based web agents"]


def test_compounds_allow_nothing_between_their_parts() -> None:
    papers = [paper("Multi-task agents"), paper("Multi-agent reinforcement learning")]
    assert titles(everything("multi-agent"), papers) == ["Multi-agent reinforcement learning"]


def test_a_phrase_never_spans_two_listing_keywords_or_a_comma() -> None:
    p = paper("Unrelated", ai_keywords=["world", "model"])
    assert not titles(everything("world model"), [p])
    q = paper("Models for prediction, representation, and control")
    assert not titles(everything("model predictive control"), [q])


def test_single_words_match_whole_words_only() -> None:
    assert not titles(everything("RL"), [paper("Curl: a contrastive method")])


def test_papers_matching_nothing_are_not_candidates() -> None:
    assert titles(everything("quantum"), [paper("Diffusion models")]) == []


def test_title_and_listing_keywords_outrank_the_abstract() -> None:
    papers = [
        paper("A", "We use a world model here."),
        paper("World model B"),
        paper("C", ai_keywords=["world model"]),
    ]
    assert titles(everything("world model"), papers) == ["World model B", "C", "A"]


def test_repetition_saturates() -> None:
    ten = paper("A", "world model " * 10)
    one = paper("B", "a world model")
    scores = {r.paper.title: r.score for r in ranked(everything("world model"), [ten, one])}
    assert scores["A"] < 3 * scores["B"]


def test_rare_terms_weigh_more_than_common_ones() -> None:
    # The store has seen "planning" in most papers and "POMDP" in one.
    reference = [paper(f"Planning paper {i}", "We study planning.") for i in range(40)]
    reference.append(paper("Belief tracking", "A POMDP solver."))
    candidates = [paper("Planning with search"), paper("A POMDP benchmark")]
    assert titles(everything("planning", "POMDP"), candidates, reference=reference) == [
        "A POMDP benchmark",
        "Planning with search",
    ]


def test_weight_counts() -> None:
    papers = [paper("Diffusion models"), paper("Video generation")]
    heavy = sub(Keyword("diffusion"), Keyword("video", weight=3.0), min_score=0.0)
    assert titles(heavy, papers)[0] == "Video generation"


def test_a_keyword_written_twice_is_one_concept() -> None:
    p = paper("Model predictive control (MPC) for drones", "MPC and model predictive control.")
    (r,) = ranked(everything("MPC", "model predictive control"), [p])
    assert {m.term for m in r.matches} == {"MPC"}


def test_exclude_vetoes_whatever_else_matches_including_synonyms() -> None:
    papers = [paper("World model survey"), paper("World model for robots")]
    assert titles(everything("world model", exclude=("survey",)), papers) == [
        "World model for robots"
    ]
    llm = [paper("World models with large language models"), paper("World model for robots")]
    assert titles(everything("world model", exclude=("LLM",)), llm) == ["World model for robots"]


def test_followed_authors_rank_first_and_need_no_keyword() -> None:
    papers = [
        paper("World model one", "world model " * 5),
        paper("Something else", authors=["Sergey Levine"]),
    ]
    out = ranked(everything("world model", authors=("sergey levine",)), papers)
    assert [r.paper.title for r in out] == ["Something else", "World model one"]
    assert out[0].by_followed_author


def test_upvotes_break_ties_only() -> None:
    papers = [
        paper("World model A", upvotes=1),
        paper("World model B", upvotes=50),
        paper("Weak", "a world model", upvotes=999),
    ]
    assert titles(everything("world model"), papers) == ["World model B", "World model A", "Weak"]


def test_the_threshold_holds_back_one_common_word_deep_in_the_abstract() -> None:
    reference = [paper(f"Agents {i}", "An agent acts.") for i in range(30)]
    weak = paper("Unrelated title", FILLER + " An agent is mentioned once.")
    strong = paper("Agents that plan")
    candidates = [weak, strong]
    assert titles(sub("agent"), candidates, reference=reference + candidates) == [
        "Agents that plan"
    ]
    both = titles(sub("agent", min_score=0.05), candidates, reference=reference + candidates)
    assert both == ["Agents that plan", "Unrelated title"]


def test_a_specific_term_once_in_the_abstract_still_goes_out() -> None:
    reference = [paper(f"Other {i}", "Something else entirely.") for i in range(30)]
    p = paper("Unrelated title", FILLER + " We solve a POMDP.")
    assert titles(sub("POMDP"), [p], reference=[*reference, p]) == ["Unrelated title"]


def test_explanation_adds_up_and_names_fields_keywords_and_synonyms() -> None:
    p = paper(
        "Planning with world models",
        "We learn a world model with reinforcement learning and plan with it.",
        ai_keywords=["world model"],
    )
    (r,) = ranked(everything("world model", "planning", "RL"), [p])
    fields = {(m.term, m.field): m.count for m in r.matches}
    assert fields[("world model", "title")] == 1
    assert fields[("world model", "keywords")] == 1
    assert fields[("world model", "abstract")] == 1
    assert fields[("planning", "title")] == 1
    rl = [m for m in r.matches if m.term == "RL"]
    assert rl and rl[0].via == ("reinforcement learning",)
    assert abs(sum(m.points for m in r.matches) - r.score) < 1e-3
    assert all(0 < m.rarity <= 1 for m in r.matches)


def test_a_paper_about_the_whole_profile_outranks_one_that_shares_a_broad_word() -> None:
    """The dev set's safe-RL failure, small: "safety" alone in an LLM paper against "safety"
    in a paper about constrained reinforcement learning. Keyword points tie them (one
    abstract find each); the whole-profile fit puts the one about the profile first."""
    llm = paper(
        "Guardrails for chat assistants",
        "We study safety filters for large language model assistants and jailbreak prompts.",
    )
    rl = paper(
        "Exploration under constraints",
        "We study safety in reinforcement learning agents, keeping policies within cost "
        "limits while they explore.",
    )
    others = [paper(f"Filler {i}", FILLER) for i in range(20)]
    profile = everything("safe RL", "constrained reinforcement learning", "safety")
    by_keywords = [r.paper.title for r in ranked(profile, [llm, rl, *others])]
    assert set(by_keywords) == {llm.title, rl.title}
    whole = ranked(profile, [llm, rl, *others], fit=True)
    assert [r.paper.title for r in whole] == [rl.title, llm.title]
    assert whole[0].score > whole[1].score


def test_the_fit_reorders_what_the_keywords_selected_and_adds_nothing() -> None:
    chosen = paper("World models for planning", "A world model learned for planning.")
    near = paper("Learned planning", "Planning with a learned model of the world dynamics.")
    selected = {r.paper.title for r in ranked(sub("world model"), [chosen, near])}
    assert {r.paper.title for r in ranked(sub("world model"), [chosen, near], fit=True)} == selected


def test_the_explanation_shows_the_fit_and_still_adds_up() -> None:
    papers = [
        paper("Planning with world models", "We learn a world model and plan with it."),
        paper("World models", "A world model for video prediction."),
        paper("Agents that plan", "Planning agents with a learned world model of their tools."),
    ]
    for r in ranked(everything("world model", "planning"), papers, fit=True):
        context = [m for m in r.matches if m.field == "context"]
        assert context and all(m.points >= 0 for m in context)
        assert [m.term for m in context] == ["whole profile"]
        assert abs(sum(m.points for m in r.matches) - r.score) < 1e-3
        assert all(t in ("world model", "planning") for t in r.matched_terms)


def test_ratings_pull_like_papers_up_push_others_down_and_explain_it() -> None:
    """A liked paper's neighbours rise (one no keyword selected comes in), a disliked one's
    sink, each explained by the rated paper; no ratings changes nothing."""
    liked = index_paper(
        paper("Legged robots that walk", "Quadruped gait learning on rough terrain.")
    )
    disliked = index_paper(paper("Robot arms", "Grasping cluttered bins with a gripper."))
    papers = [
        paper("Robot gait", "A robot learns a quadruped gait on rough terrain."),
        paper("Robot grasping", "A robot grasping cluttered bins with a gripper."),
        paper("Rough terrain gait", "Quadruped gait learning on rough terrain outdoors."),
        *(paper(f"Filler {i}", FILLER) for i in range(10)),
    ]
    listing = Listing(papers)
    profile = compile_profile(everything("robot"))
    plain = rank(profile, listing)
    assert rank(profile, listing, taste=Taste()) == plain
    rated = rank(profile, listing, taste=Taste((liked,), (disliked,)))
    titles = [r.paper.title for r in rated]
    assert titles.index("Robot gait") < titles.index("Robot grasping")
    assert "Rough terrain gait" in titles and "Rough terrain gait" not in {
        r.paper.title for r in plain
    }
    why = {r.paper.title: [m for m in r.matches if m.field == "rated"] for r in rated}
    assert why["Robot gait"][0].term == "like “Legged robots that walk”, which you liked"
    assert why["Robot grasping"][0].points < 0
    for r in rated:
        assert abs(sum(m.points for m in r.matches) - r.score) < 1e-3


def test_a_paper_as_like_a_disliked_paper_as_a_liked_one_does_not_come_in() -> None:
    """Likeness to a liked paper brings a paper in only if the ratings leave it points."""
    text = "Quadruped gait learning on rough terrain."
    liked = index_paper(paper("Legged robots that walk", text))
    disliked = index_paper(paper("Legged robots that walk again", text))
    papers = [
        paper("Robot grasping", "A robot grasping cluttered bins."),
        paper("Rough terrain gait", "Quadruped gait learning on rough terrain outdoors."),
        *(paper(f"Filler {i}", FILLER) for i in range(10)),
    ]
    listing = Listing(papers)
    profile = compile_profile(everything("robot"))
    brought = {r.paper.title for r in rank(profile, listing, taste=Taste((liked,), ()))}
    assert "Rough terrain gait" in brought
    both = rank(profile, listing, taste=Taste((liked,), (disliked,)))
    assert "Rough terrain gait" not in {r.paper.title for r in both}


def test_the_fit_is_not_shaped_by_followed_authors_and_survives_empty_papers() -> None:
    """Following an author puts their papers first and changes nothing else: the other
    papers keep their scores. A paper of no words (a title of one function word) at the
    end of the listing is no trouble."""
    papers = [
        paper("Offline RL with world models", "Offline reinforcement learning on a world model."),
        paper("World models for video", "A world model that predicts video frames."),
        paper("Offline RL benchmarks", "Datasets for offline reinforcement learning."),
        paper("Protein folding", "Structures of proteins.", authors=["Ada Lovelace"]),
        paper("The", ""),
    ]
    plain = everything("world model", "offline RL")
    following = everything("world model", "offline RL", authors=("Ada Lovelace",))
    before = {r.paper.title: r.score for r in ranked(plain, papers, fit=True)}
    after = ranked(following, papers, fit=True)
    assert after[0].paper.title == "Protein folding"
    assert {r.paper.title: r.score for r in after[1:]} == before
