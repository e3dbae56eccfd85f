"""arXiv as a second source: its announcement feed on a real loopback server (RSS and Atom,
new, cross and replace items, a weekend, an unknown category, a 304), merged with Hugging
Face listings of the same papers, and per-subscriber categories."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select

from digest.domain.source import SourceState
from digest.errors import SourceError
from digest.jobs import daily
from digest.pace import Pace
from digest.sources.arxiv import ArxivSource
from digest.sources.huggingface import HuggingFaceSource
from digest.store import schema
from tests.support import feeds
from tests.support.http import FakeArxiv, FakeHF, Scripted
from tests.support.listings import ANNOUNCED, ROBOT_HANDS, SATURDAY, announcement, hf_item
from tests.support.settings import make_settings
from tests.support.smtp import SMTPServer

# Every test here runs on SQLite and on PostgreSQL (`database` in conftest.py).
pytestmark = pytest.mark.usefixtures("database")


def arxiv(feed: FakeArxiv, cats: tuple[str, ...] = ("cs.LG", "cs.RO"), **kw) -> ArxivSource:
    kw.setdefault("pace", Pace(0))
    kw.setdefault("backoff", 0.01)
    return ArxivSource(feed.rss_url, cats, **kw)


def hf(api: FakeHF) -> HuggingFaceSource:
    return HuggingFaceSource(api.api_url, backoff=0.01, attempts=2)


# --- the feed ------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["rss", "atom"])
def test_new_announcements_are_papers_and_replacements_are_not(arxiv_feed, fmt) -> None:
    announcement(arxiv_feed)
    url = arxiv_feed.rss_url if fmt == "rss" else arxiv_feed.atom_url
    got = ArxivSource(url, ["cs.LG", "cs.RO"], pace=Pace(0)).fetch_window(
        [ANNOUNCED], SourceState("arxiv")
    )
    assert [p.key for p in got.papers] == ["arxiv:2511.01001", "arxiv:2511.01002"]
    hands = got.papers[0]
    assert hands.title == "World Models for Dexterous Robot Hands"
    # text, not HTML: a feed parser's sanitizer would have eaten "<n$ and $n>"
    assert hands.abstract == ROBOT_HANDS.abstract
    assert hands.authors == ("Ada Lovelace", "Alan Turing", "Grace Hopper")
    assert hands.categories == ("cs.RO", "cs.LG")
    assert hands.url == "https://arxiv.org/abs/2511.01001"
    assert hands.pdf_url == "https://arxiv.org/pdf/2511.01001"
    assert hands.listed_on == ANNOUNCED  # the day arXiv announced it (its own time zone)
    assert (
        "2 new, 1 cross-lists skipped (DIGEST_ARXIV_CROSS_LISTS=false), 2 replacements"
        in (got.notes[0])
    )
    # one request for both categories
    assert [path for _, path, _ in arxiv_feed.requests] == ["/" + fmt + "/cs.LG+cs.RO"]


def test_cross_lists_are_kept_when_asked_for(arxiv_feed) -> None:
    announcement(arxiv_feed)
    got = arxiv(arxiv_feed, cross_lists=True).fetch_window([ANNOUNCED], SourceState("arxiv"))
    assert [p.key for p in got.papers] == [
        "arxiv:2511.01001",
        "arxiv:2511.01002",
        "arxiv:2511.01003",
    ]


def test_an_unchanged_feed_is_a_304_and_costs_nothing(arxiv_feed) -> None:
    announcement(arxiv_feed)
    source = arxiv(arxiv_feed)
    first = source.fetch_window([ANNOUNCED], SourceState("arxiv"))
    assert first.state.etag and first.state.last_modified
    second = source.fetch_window([ANNOUNCED], first.state)
    assert arxiv_feed.headers[-1]["if-none-match"] == first.state.etag
    assert arxiv_feed.statuses == [200, 304]
    assert second.papers == []
    assert "unchanged since the last fetch" in second.notes[0]
    # a new announcement is fetched in full
    arxiv_feed.day = ANNOUNCED + timedelta(days=1)
    third = source.fetch_window([arxiv_feed.day], second.state)
    assert arxiv_feed.statuses[-1] == 200 and len(third.papers) == 2


def test_requests_to_arxiv_are_three_seconds_apart(arxiv_feed) -> None:
    announcement(arxiv_feed)
    pace = Pace(3.0)
    for _ in range(2):
        arxiv(arxiv_feed, pace=pace).fetch_window([ANNOUNCED], SourceState("arxiv"))
    (t1, *_), (t2, *_) = arxiv_feed.requests
    assert t2 - t1 >= 2.95


def test_a_full_combined_feed_is_asked_for_one_category_at_a_time(arxiv_feed) -> None:
    announcement(arxiv_feed)
    got = arxiv(arxiv_feed, feed_limit=5, cross_lists=True).fetch_window(
        [ANNOUNCED], SourceState("arxiv")
    )
    assert [path for _, path, _ in arxiv_feed.requests] == [
        "/rss/cs.LG+cs.RO",
        "/rss/cs.LG",
        "/rss/cs.RO",
    ]
    assert sorted(p.key for p in got.papers) == [
        "arxiv:2511.01001",
        "arxiv:2511.01002",
        "arxiv:2511.01003",
    ]


def test_an_unknown_category_is_a_clear_error(arxiv_feed) -> None:
    with pytest.raises(SourceError) as err:
        arxiv(arxiv_feed, ("cs.XX",)).fetch_window([ANNOUNCED], SourceState("arxiv"))
    assert "Feed error for query: cs.XX" in str(err.value)
    assert "DIGEST_ARXIV_CATEGORIES" in str(err.value)


def test_a_truncated_feed_is_refused_whole(arxiv_feed) -> None:
    announcement(arxiv_feed)
    body = feeds.rss("cs.LG", ANNOUNCED, arxiv_feed.items)
    arxiv_feed.script.append(Scripted(200, body[: len(body) // 2]))
    with pytest.raises(SourceError, match="malformed feed"):
        arxiv(arxiv_feed).fetch_window([ANNOUNCED], SourceState("arxiv"))


@pytest.mark.parametrize(
    "body",
    [
        b'<?xml version="1.0"?><rss version="2.0"><channel><title>cs.LG</title><item>'
        b"<title>A &#xD800; title</title><link>https://arxiv.org/abs/2511.00001</link>"
        b"</item></channel></rss>",
        b'<?xml version="1.0"?><rss version="2.0"><channel>' + b"<x>" * 50_000,
    ],
    ids=["lone surrogate", "nested"],
)
def test_a_hostile_feed_is_one_source_error(arxiv_feed, body: bytes) -> None:
    arxiv_feed.script.append(Scripted(200, body))
    with pytest.raises(SourceError) as err:
        arxiv(arxiv_feed).fetch_window([ANNOUNCED], SourceState("arxiv"))
    assert "rss/cs.LG+cs.RO" in str(err.value) and "\n" not in str(err.value)


# --- runs ----------------------------------------------------------------------------------


def both(workdir: Path, api: FakeHF, feed: FakeArxiv, smtp: SMTPServer, **env: str):
    return make_settings(
        workdir,
        **smtp.env(
            **{
                "DIGEST_SOURCES": "huggingface,arxiv",
                "DIGEST_HF_API_URL": api.api_url,
                "DIGEST_ARXIV_RSS_URL": feed.rss_url,
                "DIGEST_ARXIV_CATEGORIES": "cs.LG,cs.RO",
                **env,
            }
        ),
    )


def mails(smtp: SMTPServer, email: str):
    return [r.message for r in smtp.received if r.rcpt_tos == [email]]


def test_a_paper_from_both_sources_is_one_card_with_upvotes_and_code(
    workdir, hf_api, arxiv_feed, smtp_server
) -> None:
    announcement(arxiv_feed)
    hf_api.days[str(ANNOUNCED)] = [
        hf_item(
            "2511.01001",
            "World models for dexterous robot hands",
            "An abstract as Hugging Face has it.",
            upvotes=42,
            githubRepo="https://github.com/example/hands",
            ai_keywords=["contact modelling"],
        ),
        hf_item("2511.09999", "Diffusion for video generation", upvotes=3),
    ]
    settings = both(workdir, hf_api, arxiv_feed, smtp_server)
    report = daily.run(settings, ANNOUNCED, sources=[hf(hf_api), arxiv(arxiv_feed)])
    assert report.ok and report.sent == 2
    (ada,) = mails(smtp_server, "ada@example.org")
    html = ada.get_body(("html",)).get_content()
    text = ada.get_body(("plain",)).get_content()
    assert text.count("World Models for Dexterous Robot Hands") == 1
    assert "World models for dexterous robot hands" not in text  # arXiv's record wins
    assert "42 upvotes" in text and "42 upvotes" in html
    assert "Code:           https://github.com/example/hands" in text
    assert "Hugging Face:   https://huggingface.co/papers/2511.01001" in text
    assert re.search(r'<a href="https://arxiv.org/abs/2511.01001"[^>]*>World Models', html)
    assert "Scaling world models with video" in text
    (grace,) = mails(smtp_server, "grace@example.org")
    assert "Diffusion for video generation" in grace.get_body(("plain",)).get_content()
    engine = create_engine(settings.database.url)
    with engine.connect() as conn:
        papers = conn.execute(select(func.count()).select_from(schema.papers)).scalar_one()
        sources = dict(
            conn.execute(
                select(schema.listings.c.source, func.count()).group_by(schema.listings.c.source)
            ).all()
        )
    assert papers == 3  # 2 from arXiv, 1 more from Hugging Face
    assert sources == {"arxiv": 2, "huggingface": 2}


def test_a_paper_seen_on_arxiv_and_trending_later_is_not_sent_again(
    workdir, hf_api, arxiv_feed, smtp_server
) -> None:
    announcement(arxiv_feed)
    settings = both(workdir, hf_api, arxiv_feed, smtp_server)
    daily.run(settings, ANNOUNCED, sources=[hf(hf_api), arxiv(arxiv_feed)])
    (first,) = mails(smtp_server, "ada@example.org")
    assert "World Models for Dexterous Robot Hands" in first.get_body(("plain",)).get_content()

    # two days later: the weekend's empty feed, and the paper trending on Hugging Face
    arxiv_feed.day, arxiv_feed.items = SATURDAY, []
    hf_api.days[str(SATURDAY)] = [
        hf_item("2511.01001v2", "World Models for Dexterous Robot Hands", upvotes=310)
    ]
    report = daily.run(settings, SATURDAY, sources=[hf(hf_api), arxiv(arxiv_feed)])
    assert report.ok and report.fetched == 1 and report.new == 0
    assert len(mails(smtp_server, "ada@example.org")) == 1
    with create_engine(settings.database.url).connect() as conn:
        row = conn.execute(
            select(schema.papers).where(schema.papers.c.key == "arxiv:2511.01001")
        ).one()
    assert row.upvotes == 310 and row.source == "arxiv" and row.categories == ["cs.RO", "cs.LG"]


def test_a_dry_run_keeps_no_validators_and_a_real_run_reuses_them(
    workdir, hf_api, arxiv_feed, smtp_server
) -> None:
    announcement(arxiv_feed)
    settings = both(workdir, hf_api, arxiv_feed, smtp_server, DIGEST_SOURCES="arxiv")
    daily.run(settings, ANNOUNCED, dry_run=True, sources=[arxiv(arxiv_feed)])
    daily.run(settings, ANNOUNCED, sources=[arxiv(arxiv_feed)])
    assert arxiv_feed.statuses == [200, 200]  # the dry run's fetch was rolled back whole
    assert len(smtp_server.received) == 1  # grace matches nothing here
    again = daily.run(settings, ANNOUNCED, dry_run=True, sources=[arxiv(arxiv_feed)])
    assert arxiv_feed.statuses[-1] == 304
    assert again.fetched == 0 and again.mailed == 0


# --- per-subscriber categories -------------------------------------------------------------

ROBOTICIST = """
[[subscriber]]
email = "rob@example.org"
keywords = ["world model", "diffusion"]
categories = ["cs.RO"]

[[subscriber]]
email = "any@example.org"
keywords = ["world model", "diffusion"]
"""


def test_a_subscriber_kept_to_a_category_gets_only_papers_known_to_be_in_it(
    workdir, hf_api, arxiv_feed, smtp_server
) -> None:
    (workdir / "subscribers.toml").write_text(ROBOTICIST)
    announcement(arxiv_feed)
    hf_api.days[str(ANNOUNCED)] = [hf_item("2511.09999", "Diffusion world model for video")]
    settings = both(workdir, hf_api, arxiv_feed, smtp_server, DIGEST_ARXIV_CROSS_LISTS="true")
    daily.run(settings, ANNOUNCED, sources=[hf(hf_api), arxiv(arxiv_feed, cross_lists=True)])
    (rob,) = mails(smtp_server, "rob@example.org")
    (anyone,) = mails(smtp_server, "any@example.org")
    rob_text = rob.get_body(("plain",)).get_content()
    assert "World Models for Dexterous Robot Hands" in rob_text  # cs.RO, cs.LG
    assert "Robot grasping with world model priors" in rob_text  # a cross-list into cs.RO
    assert "Scaling world models with video" not in rob_text  # cs.LG only
    assert "Diffusion world model for video" not in rob_text  # no category known
    any_text = anyone.get_body(("plain",)).get_content()
    assert "Scaling world models with video" in any_text
    assert "Diffusion world model for video" in any_text


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        (
            json.dumps([hf_item("2511.02001", "World models at scale", upvotes=10**30)]),
            "'upvotes' is out of range",
        ),
        (json.dumps([hf_item("2511.02002", "World models \ud800 broken")]), "lone surrogate"),
        ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
    ],
)
def test_a_hostile_listing_fails_its_source_in_one_line_and_the_other_still_mails(
    workdir, hf_api, arxiv_feed, smtp_server, body, needle
) -> None:
    """Numbers no count reaches, text no UTF-8 holds, a document nested beyond reason: the
    Hugging Face source fails with one line naming it, and arXiv's papers go out."""
    announcement(arxiv_feed)
    hf_api.script = [Scripted(200, body.encode())]
    settings = both(workdir, hf_api, arxiv_feed, smtp_server)
    report = daily.run(settings, ANNOUNCED, sources=[hf(hf_api), arxiv(arxiv_feed)])
    assert report.sent >= 1  # arXiv's world-model papers
    (problem,) = [p for p in report.problems if "huggingface" in p]
    assert needle in problem and "\n" not in problem
