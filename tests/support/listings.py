"""Listings the sources serve in tests: Hugging Face items in the API's shape, the bundled
sample days, and arXiv's announcement of ANNOUNCED."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

from tests.support.feeds import Item
from tests.support.http import FakeArxiv

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


# --- arXiv ---------------------------------------------------------------------------------

ANNOUNCED = date(2025, 11, 6)  # a Thursday
SATURDAY = date(2025, 11, 8)

ROBOT_HANDS = Item(
    "2511.01001v1",
    "World Models for Dexterous Robot Hands",
    "We learn a world model of contact: for $k<n$ fingers and $n>m$ objects & more.",
    categories=("cs.RO", "cs.LG"),
)
VIDEO_WORLD = Item("2511.01002v1", "Scaling world models with video", categories=("cs.LG",))
CROSS = Item(
    "2511.01003v1", "Robot grasping with world model priors", kind="cross", categories=("cs.RO",)
)
REPLACED = Item("2401.00001v3", "A world model survey, revised", kind="replace")
REPLACED_CROSS = Item("2402.00002v2", "World models, again", kind="replace-cross")


def announcement(feed: FakeArxiv) -> None:
    feed.items = [ROBOT_HANDS, VIDEO_WORLD, CROSS, REPLACED, REPLACED_CROSS]
