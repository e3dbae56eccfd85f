"""Listings the sources serve in tests: Hugging Face items in the API's shape, the bundled
sample days, and the day arXiv announced the papers of the feed tests."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

DATA = Path(__file__).resolve().parents[2] / "digest" / "sample"
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"  # tests/fixtures


def hf_item(pid: str, title: str, summary: str = "", **paper: Any) -> dict[str, Any]:
    """An item in the Hugging Face Daily Papers shape (see shared/data/hf-item-example.json)."""
    body = {
        "id": pid,
        "authors": [],
        "publishedAt": "2025-11-06T09:00:00.000Z",
        "submittedOnDailyAt": "2025-11-06T10:00:00.000Z",
        "title": title,
        "summary": summary,
        "upvotes": 0,
        "ai_summary": "",
        "ai_keywords": [],
    }
    body.update(paper)
    return {
        "paper": body,
        "title": title,
        "summary": summary,
        "publishedAt": body["publishedAt"],
        "numComments": 0,
        "isAuthorParticipating": False,
    }


def sample_items(day: str) -> list[dict[str, Any]]:
    return json.loads((DATA / f"{day}.json").read_text())


ANNOUNCED = date(2025, 11, 6)  # a Thursday
