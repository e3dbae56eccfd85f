"""Hugging Face items parsed without a server: every field of a real item, unsafe links
dropped, and the bundled sample read by the same parser."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

from digest.sources.huggingface import parse_item
from digest.sources.sample import SampleSource
from tests.support.listings import FIXTURES, hf_item

DAY = date(2025, 11, 6)
EXAMPLE = FIXTURES / "hf-item-example.json"


def test_parses_every_field_of_a_real_item() -> None:
    p = parse_item(json.loads(EXAMPLE.read_text()), DAY, "item #0")
    assert p.key == "arxiv:2602.23229"
    assert p.title == "Large Multimodal Models as General In-Context Classifiers"
    assert p.authors == ("Marco Garosi", "Matteo Farina")
    assert p.url == "https://huggingface.co/papers/2602.23229"
    assert p.pdf_url == "https://arxiv.org/pdf/2602.23229"
    assert p.code_url == "https://github.com/marco-garosi/CIRCLE"
    assert p.project_url == "https://circle-lmm.github.io/"
    assert p.organization == "Multimedia and Human Understanding Group"
    assert p.upvotes == 10 and p.github_stars == 9
    assert "in-context learning" in p.ai_keywords
    assert p.published_at == datetime(2026, 2, 26, 17, 8, 18, tzinfo=UTC)
    assert p.listed_on == DAY


def test_javascript_links_in_a_listing_are_dropped() -> None:
    p = parse_item(hf_item("2511.00001", "t", githubRepo="javascript:alert(1)"), DAY, "item #0")
    assert p.code_url is None


def test_sample_source_uses_the_same_parser() -> None:
    papers = SampleSource().fetch(DAY)
    assert len(papers) == 83
    assert all(p.url and p.url.startswith("https://huggingface.co/papers/") for p in papers)
    assert SampleSource().fetch(date(2020, 1, 1)) == []
