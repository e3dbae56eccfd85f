"""Papers a reader names by arXiv id (`papers`): looked up once on a loopback export API,
spaced three seconds apart, stored, and ranked as likes; one arXiv lacks is reported and not
asked for again."""

from __future__ import annotations

import io
import itertools
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from digest.errors import ConfigError
from digest.jobs import daily, roster
from digest.pace import Pace
from digest.progress import Plain
from digest.sources.huggingface import HuggingFaceSource
from digest.sources.lookup import ArxivLookup
from tests.support.feeds import Item
from tests.support.http import FakeArxivAPI, FakeHF, Scripted
from tests.support.listings import ANNOUNCED, hf_item
from tests.support.settings import make_settings
from tests.support.smtp import SMTPServer

pytestmark = pytest.mark.usefixtures("database")

GAIT = Item(
    "2401.00042v1",
    "Learning quadruped gait on rough terrain",
    "Quadruped gait learning for legged robots walking on rough terrain and stairs.",
)
FILLER = [
    ("Protein structure prediction", "Folding proteins with attention over residues."),
    ("Speech recognition at scale", "Transcribing audio with large encoders."),
    ("Graph neural networks for molecules", "Message passing predicts molecular energies."),
    ("Diffusion models for images", "Denoising generates high resolution images."),
    ("Tokenizers for code", "Byte pair encoding for source code corpora."),
]


@pytest.fixture
def arxiv_api() -> Iterator[FakeArxivAPI]:
    with FakeArxivAPI() as server:
        server.papers[GAIT.bare] = GAIT
        yield server


def listing(hf_api: FakeHF) -> None:
    hf_api.days[str(ANNOUNCED)] = [
        hf_item("2511.00001", "World models for robot hands", "A world model of contact."),
        hf_item(
            "2511.00002",
            "Legged robots climb stairs",
            "A quadruped gait for legged robots on stairs and rough terrain.",
        ),
        *(hf_item(f"2511.0010{i}", t, a) for i, (t, a) in enumerate(FILLER)),
    ]


def subscriber_file(workdir: Path, papers: list[str]) -> None:
    named = ", ".join(f'"{p}"' for p in papers)
    (workdir / "subscribers.toml").write_text(
        f'[[subscriber]]\nemail = "ada@example.org"\nkeywords = ["world model"]\n'
        f"papers = [{named}]\n"
    )


def run(workdir: Path, hf_api: FakeHF, api: FakeArxivAPI, smtp: SMTPServer, day=ANNOUNCED):
    settings = make_settings(
        workdir,
        **smtp.env(DIGEST_SOURCES="huggingface", DIGEST_ARXIV_API_URL=api.api_url),
    )
    log = io.StringIO()
    source = HuggingFaceSource(hf_api.api_url, backoff=0.01, attempts=2)
    report = daily.run(settings, day, sources=[source], reporter=Plain(log))
    return report, log.getvalue()


def test_a_named_paper_is_looked_up_once_and_brings_in_papers_like_it(
    workdir, hf_api, arxiv_api, smtp_server
) -> None:
    listing(hf_api)
    subscriber_file(workdir, ["arXiv:2401.00042v3"])
    report, log = run(workdir, hf_api, arxiv_api, smtp_server)
    assert report.ok, log
    assert arxiv_api.asked == ["2401.00042"]
    (mail,) = [r.message for r in smtp_server.received if r.rcpt_tos == ["ada@example.org"]]
    text = mail.get_body(("plain",)).get_content()
    assert "World models for robot hands" in text
    # no keyword matches it: the named paper brought it in, and the card says so
    assert "Legged robots climb stairs" in text
    assert "like “Learning quadruped gait on rough terrain”, which you liked" in " ".join(
        text.split()
    )
    assert "Protein structure" not in text

    again, log = run(workdir, hf_api, arxiv_api, smtp_server, ANNOUNCED + timedelta(days=1))
    assert again.ok, log
    assert arxiv_api.asked == ["2401.00042"]  # once


def test_a_paper_arxiv_does_not_have_is_reported_and_not_asked_for_again(
    workdir, hf_api, arxiv_api, smtp_server
) -> None:
    listing(hf_api)
    subscriber_file(workdir, ["2401.99999"])
    report, log = run(workdir, hf_api, arxiv_api, smtp_server)
    assert report.ok
    assert "warning: papers named in profiles: arXiv has no paper 2401.99999" in log
    assert arxiv_api.asked == ["2401.99999"]
    run(workdir, hf_api, arxiv_api, smtp_server, ANNOUNCED + timedelta(days=1))
    assert arxiv_api.asked == ["2401.99999"]


def test_an_unreachable_arxiv_leaves_the_lookup_for_the_next_run(
    workdir, hf_api, arxiv_api, smtp_server
) -> None:
    listing(hf_api)
    subscriber_file(workdir, ["2401.00042"])
    arxiv_api.server.shutdown()  # nothing answers on that port any more
    arxiv_api.server.server_close()
    report, log = run(workdir, hf_api, arxiv_api, smtp_server)
    assert report.ok and report.sent == 1  # the digest goes out without the like
    assert "looked up again by the next run" in log and "Traceback" not in log


def test_requests_to_the_export_api_are_three_seconds_apart(arxiv_api) -> None:
    ids = [f"2402.{i:05d}" for i in range(120)]  # three batches
    with ArxivLookup(arxiv_api.api_url, pace=Pace(3.0)) as lookup:
        started = time.monotonic()
        found, lacking = lookup.papers([*ids, "2401.00042"])
    assert [p.title for p in found] == [GAIT.title] and lacking == ids
    times = [t for t, _, _ in arxiv_api.requests]
    assert len(times) == 3 and times[0] - started < 1.0
    assert all(b - a >= 2.99 for a, b in itertools.pairwise(times))


def test_the_operator_adding_a_paper_arxiv_lacks_is_told_and_nothing_is_stored(
    workdir, arxiv_api
) -> None:
    settings = make_settings(workdir, DIGEST_ARXIV_API_URL=arxiv_api.api_url)
    fields = {"email": "bo@example.org", "keywords": ("robot",), "papers": ("2401.99999",)}
    with pytest.raises(ConfigError, match=r"arXiv has no paper 2401\.99999"):
        roster.add(settings, fields)
    assert "bo@example.org" not in {m.email for m in roster.members(settings)}
    fields["papers"] = ("https://arxiv.org/abs/2401.00042v1",)
    assert roster.add(settings, fields) == ("added", None)
    (member,) = [m for m in roster.members(settings) if m.email == "bo@example.org"]
    assert member.subscriber.papers == ("2401.00042",)
    assert arxiv_api.asked == ["2401.99999", "2401.00042"]


def test_an_error_answer_from_arxiv_marks_no_paper_missing(
    workdir, hf_api, arxiv_api, smtp_server
) -> None:
    listing(hf_api)
    subscriber_file(workdir, ["2401.00042", "2401.99999"])
    arxiv_api.script.append(Scripted(200, ERROR_ANSWER))  # what arXiv sends a request it refuses
    report, log = run(workdir, hf_api, arxiv_api, smtp_server)
    assert report.ok and "arXiv answered an error" in log and "has no paper" not in log
    again, log = run(workdir, hf_api, arxiv_api, smtp_server, ANNOUNCED + timedelta(days=1))
    assert again.ok and "arXiv has no paper 2401.99999" in log  # asked again, answered
    assert sorted(arxiv_api.asked) == sorted(["2401.00042", "2401.99999"] * 2)


ERROR_ANSWER = b"""<?xml version="1.0" encoding="UTF-8"?>
<feed xmlns="http://www.w3.org/2005/Atom">
  <title>ArXiv Query</title><id>http://arxiv.org/api/x</id>
  <entry>
    <id>http://arxiv.org/api/errors#incorrect_id_format_for_2401.0004</id>
    <title>Error</title>
    <summary>incorrect id format for 2401.0004</summary>
    <link href="http://arxiv.org/api/errors#incorrect_id_format_for_2401.0004" rel="alternate"/>
  </entry>
</feed>"""
