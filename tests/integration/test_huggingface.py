"""The Hugging Face source against a real HTTP server on loopback."""

from __future__ import annotations

import json
from datetime import date

import pytest

from digest.errors import SourceError
from digest.sources.huggingface import HuggingFaceSource
from tests.support.http import FakeHF, Scripted
from tests.support.listings import hf_item

DAY = date(2025, 11, 6)


def source(hf: FakeHF, **kw) -> HuggingFaceSource:
    kw.setdefault("backoff", 0.01)
    return HuggingFaceSource(hf.api_url, **kw)


def test_pages_until_a_short_page(hf_api: FakeHF) -> None:
    hf_api.days["2025-11-06"] = [hf_item(f"2511.{i:05d}", f"Paper number {i}") for i in range(230)]
    papers = source(hf_api, page_size=100).fetch(DAY)
    assert len(papers) == 230
    assert len({p.key for p in papers}) == 230
    assert [(q["p"], q["limit"], q["date"]) for _, _, q in hf_api.requests] == [
        ("0", "100", "2025-11-06"),
        ("1", "100", "2025-11-06"),
        ("2", "100", "2025-11-06"),
    ]


def test_exact_multiple_of_page_size_stops_on_empty_page(hf_api: FakeHF) -> None:
    hf_api.days["2025-11-06"] = [hf_item(f"2511.{i:05d}", f"Paper {i}") for i in range(4)]
    assert len(source(hf_api, page_size=2).fetch(DAY)) == 4
    assert len(hf_api.requests) == 3


def test_a_day_with_no_listing_is_empty(hf_api: FakeHF) -> None:
    assert source(hf_api).fetch(date(2025, 1, 1)) == []


def test_versioned_id_keys_to_the_bare_arxiv_id(hf_api: FakeHF) -> None:
    hf_api.days["2025-11-06"] = [hf_item("2511.00001v2", "A paper")]
    assert source(hf_api).fetch(DAY)[0].key == "arxiv:2511.00001"


def test_a_500_then_success_is_retried(hf_api: FakeHF) -> None:
    hf_api.days["2025-11-06"] = [hf_item("2511.00001", "A paper")]
    hf_api.script = [Scripted(500, b"oops"), Scripted(503, b"busy")]
    assert [p.title for p in source(hf_api).fetch(DAY)] == ["A paper"]
    assert len(hf_api.requests) == 3


def test_429_waits_as_long_as_retry_after_says(hf_api: FakeHF) -> None:
    hf_api.days["2025-11-06"] = [hf_item("2511.00001", "A paper")]
    hf_api.script = [Scripted(429, b"{}", {"Retry-After": "1", "RateLimit": '"api";r=0;t=1'})]
    assert len(source(hf_api).fetch(DAY)) == 1
    (t0, _, _), (t1, _, _) = hf_api.requests
    assert t1 - t0 >= 0.9


def test_timeout_gives_up_with_source_and_url(hf_api: FakeHF) -> None:
    hf_api.script = [Scripted(200, b"[]", delay=1.0), Scripted(200, b"[]", delay=1.0)]
    with pytest.raises(SourceError) as err:
        source(hf_api, timeout=0.2, attempts=2).fetch(DAY)
    text = str(err.value)
    assert text.startswith("huggingface: http://127.0.0.1:")
    assert "date=2025-11-06" in text and "timed out" in text and "2 attempts" in text


def test_unreachable_api_is_a_source_error() -> None:
    src = HuggingFaceSource("http://127.0.0.1:9/api", attempts=2, backoff=0.01)
    with pytest.raises(SourceError, match="connection failed"):
        src.fetch(DAY)


def test_truncated_body_is_reported_not_retried(hf_api: FakeHF) -> None:
    hf_api.script = [Scripted(200, b'[{"paper": {"id": "2511.0')]
    with pytest.raises(SourceError, match="not JSON") as err:
        source(hf_api).fetch(DAY)
    assert "/api/daily_papers?date=2025-11-06" in str(err.value)
    assert len(hf_api.requests) == 1


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        ({"error": "nope"}, "expected a JSON list of papers, got dict"),
        (
            [hf_item("2511.00001", "ok"), {"paper": {"id": "2511.00002"}}],
            "item #1 (2511.00002): missing 'title'",
        ),
        ([{"title": "no paper object"}], "item #0: missing 'paper' object"),
        ([hf_item("2511.00001", "ok", upvotes="many")], "'upvotes' should be a number"),
    ],
)
def test_unexpected_schema_names_the_first_offending_item(
    hf_api: FakeHF, payload, expected
) -> None:
    hf_api.script = [Scripted(200, json.dumps(payload).encode())]
    with pytest.raises(SourceError) as err:
        source(hf_api).fetch(DAY)
    assert expected in str(err.value)


def test_invalid_date_is_a_clear_http_400(hf_api: FakeHF) -> None:
    hf_api.script = [Scripted(400, b'{"error":"Invalid date"}')]
    with pytest.raises(SourceError, match=r"HTTP 400: .*Invalid date"):
        source(hf_api).fetch(DAY)
    assert len(hf_api.requests) == 1
