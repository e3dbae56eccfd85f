"""Ratings as the store keeps them: the latest verdict per paper, the latest ones read (the
cut made in the database, so a reader's old ratings cost nothing), forgotten with the
subscriber."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from digest import store
from digest.domain.paper import Paper
from digest.jobs.roster import remove_subscriber
from tests.support.settings import database_of

pytestmark = pytest.mark.usefixtures("database")


def test_the_latest_ratings_are_read_newest_first_and_go_with_the_subscriber(workdir) -> None:
    db = database_of(workdir)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    papers = [
        Paper(
            key=f"arxiv:2601.{i:05d}",
            source="arxiv",
            source_id=f"2601.{i:05d}",
            title=f"Paper {i}",
            abstract="An abstract.",
            authors=(),
        )
        for i in range(12)
    ]
    with db.writing() as conn:
        store.papers.add(conn, papers)
        for i, p in enumerate(papers):
            store.ratings.rate(conn, "ada@example.org", p.key, "more", start + timedelta(hours=i))
        assert store.ratings.rate(conn, "ada@example.org", papers[0].key, "less", start) == "more"
        store.ratings.rate(conn, "bo@example.org", papers[1].key, "less", start)
    with db.reading() as conn:
        latest = store.ratings.of(conn, ["ada@example.org", "bo@example.org"], 5)
    assert [p.title for p, _ in latest["ada@example.org"]] == [
        f"Paper {i}" for i in (11, 10, 9, 8, 7)
    ]
    assert [(p.title, v) for p, v in latest["bo@example.org"]] == [("Paper 1", "less")]
    with db.writing() as conn:
        remove_subscriber(conn, "ada@example.org")
    with db.reading() as conn:
        assert store.ratings.of(conn, ["ada@example.org"]) == {}
        assert len(store.ratings.of(conn, ["bo@example.org"])["bo@example.org"]) == 1
    db.dispose()
