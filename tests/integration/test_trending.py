"""The trending section, through the whole job against a loopback Hugging Face API and a real
SMTP server: a keyword-less subscriber gets exactly the day's most upvoted new papers, a paper
sent as trending is never sent again (as a pick or otherwise), exclusions still veto, and a
paper nobody upvoted is never trending."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import pytest

from digest.jobs import daily
from digest.sources.huggingface import HuggingFaceSource
from tests.support.http import FakeHF
from tests.support.listings import hf_item
from tests.support.settings import make_settings
from tests.support.smtp import SMTPServer

# Every test here runs on SQLite and on PostgreSQL (`database` in conftest.py).
pytestmark = pytest.mark.usefixtures("database")

D1, D2 = date(2025, 11, 5), date(2025, 11, 6)


def run(workdir: Path, hf: FakeHF, smtp: SMTPServer, day: date, profile: str):
    (workdir / "subscribers.toml").write_text(profile)
    env = smtp.env(DIGEST_SOURCES="huggingface", DIGEST_HF_API_URL=hf.api_url)
    settings = make_settings(workdir, **env)
    source = HuggingFaceSource(hf.api_url, backoff=0.01, attempts=2)
    report = daily.run(settings, day, sources=[source])
    assert report.ok, report.summary()
    return report


def sent_ids(smtp: SMTPServer, email: str) -> list[list[str]]:
    """The Hugging Face ids of the papers in each message to `email`, in the order shown."""
    out = []
    for r in smtp.received:
        if r.rcpt_tos == [email]:
            text = r.message.get_body(("plain",)).get_content()
            out.append(re.findall(r"https://huggingface\.co/papers/(\S+)", text))
    return out


def listing(day: date, votes: dict[str, int], titles: dict[str, str] | None = None) -> list:
    titles = titles or {}
    return [
        hf_item(pid, titles.get(pid, f"Paper {pid} on something"), upvotes=v)
        for pid, v in votes.items()
    ]


def test_a_subscriber_without_keywords_gets_exactly_the_most_upvoted_new_papers(
    workdir: Path, hf_api: FakeHF, smtp_server: SMTPServer
) -> None:
    votes = {"2511.00001": 5, "2511.00002": 40, "2511.00003": 0, "2511.00004": 12}
    votes |= {"2511.00005": 33, "2511.00006": 1}
    hf_api.days[str(D1)] = listing(D1, votes)
    profile = '[[subscriber]]\nemail = "newbie@example.org"\ntrending = 3\n'
    run(workdir, hf_api, smtp_server, D1, profile)
    (ids,) = sent_ids(smtp_server, "newbie@example.org")
    assert ids == ["2511.00002", "2511.00005", "2511.00004"]  # most upvoted first
    (msg,) = [r.message for r in smtp_server.received]
    assert msg["Subject"].startswith("Trending today: Paper 2511.00002 on something and 2 more")
    text = msg.get_body(("plain",)).get_content()
    assert "The 3 most upvoted new papers today" in text and "40 upvotes" in text

    # the next day: the new day's most upvoted, none of those sent before, however upvoted
    hf_api.days[str(D2)] = listing(D2, votes | {"2511.00007": 9, "2511.00008": 2})
    run(workdir, hf_api, smtp_server, D2, profile)
    assert sent_ids(smtp_server, "newbie@example.org")[1] == [
        "2511.00007",
        "2511.00001",
        "2511.00008",
    ]


def test_a_paper_sent_as_trending_is_not_sent_again_as_a_pick(
    workdir: Path, hf_api: FakeHF, smtp_server: SMTPServer
) -> None:
    """Day one: "world model" picks A (the best match, max_papers 1) and the trending section
    carries B, the most upvoted. Day two B is listed again and is the only match: it is not
    sent again, so there is no digest at all."""
    titles = {
        "2511.00011": "World models for robots: a world model study",
        "2511.00012": "World models, briefly",
        "2511.00013": "Tokenizers",
    }
    votes = {"2511.00011": 2, "2511.00012": 90, "2511.00013": 0}
    hf_api.days[str(D1)] = listing(D1, votes, titles)
    profile = (
        '[[subscriber]]\nemail = "ada@example.org"\nkeywords = ["world model"]\n'
        "max_papers = 1\ntrending = 1\n"
    )
    run(workdir, hf_api, smtp_server, D1, profile)
    assert sent_ids(smtp_server, "ada@example.org") == [["2511.00011", "2511.00012"]]
    text = smtp_server.received[0].message.get_body(("plain",)).get_content()
    picks, hot = text.split("TRENDING TODAY: THE MOST UPVOTED NEW PAPERS")
    assert "2511.00011" in picks and "2511.00012" in hot
    assert "Why: world model in the title" in " ".join(hot.split())  # and why it matched

    hf_api.days[str(D2)] = [hf_item("2511.00012", titles["2511.00012"], upvotes=120)]
    report = run(workdir, hf_api, smtp_server, D2, profile)
    assert report.sent == 0 and len(sent_ids(smtp_server, "ada@example.org")) == 1


def test_exclusions_veto_trending_papers_and_unvoted_ones_never_trend(
    workdir: Path, hf_api: FakeHF, smtp_server: SMTPServer
) -> None:
    titles = {"2511.00021": "A survey of everything", "2511.00022": "Robots that walk"}
    votes = {"2511.00021": 99, "2511.00022": 3, "2511.00023": 0, "2511.00024": 0}
    hf_api.days[str(D1)] = listing(D1, votes, titles)
    profile = '[[subscriber]]\nemail = "eve@example.org"\nexclude = ["survey"]\ntrending = 5\n'
    run(workdir, hf_api, smtp_server, D1, profile)
    assert sent_ids(smtp_server, "eve@example.org") == [["2511.00022"]]
