"""Papers under their canonical keys in the store, on a real SQLite file."""

from __future__ import annotations

import sqlite3
from datetime import date
from pathlib import Path

from sqlalchemy import func, select

from digest import store
from digest.domain.paper import Paper, canonical_key
from digest.jobs import daily, inspect
from digest.jobs.collect import store_papers
from digest.store import schema
from tests.support.settings import SUBSCRIBERS, make_settings, open_engine


def make(pid: str, title: str, day: date = date(2025, 11, 6), **kw) -> Paper:
    return Paper(
        key=canonical_key(pid, title),
        source="huggingface",
        source_id=pid,
        title=title,
        abstract="a",
        listed_on=day,
        **kw,
    )


def count(engine, table) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar_one()


def test_versions_relistings_and_sources_are_one_paper(tmp_path: Path) -> None:
    engine = open_engine(f"sqlite:///{tmp_path / 'd.db'}")
    with engine.begin() as conn:
        _, new = store_papers(conn, [make("2511.00001v1", "Title One", upvotes=1)], "huggingface")
        assert new == 1
    with engine.begin() as conn:
        later = [make("2511.00001v2", "Title One (revised)", date(2025, 11, 13), upvotes=7)]
        (p,), new = store_papers(conn, later, "huggingface")
        assert new == 0 and p.key == "arxiv:2511.00001"
    with engine.begin() as conn:
        # another source knows the paper only by its title
        (p,), new = store_papers(conn, [make("xabc", "title one", date(2025, 11, 14))], "other")
        assert new == 0 and p.key == "arxiv:2511.00001"
    assert count(engine, schema.papers) == 1
    assert count(engine, schema.listings) == 3
    with engine.connect() as conn:
        (stored,) = store.papers.listed(conn, [date(2025, 11, 13)])
    assert stored.upvotes == 7 and stored.title == "Title One"


def test_a_title_key_paper_later_seen_with_an_id_keeps_its_key(tmp_path: Path) -> None:
    engine = open_engine(f"sqlite:///{tmp_path / 'd.db'}")
    with engine.begin() as conn:
        store_papers(conn, [make("x1", "Same Title")], "sample")
        (p,), new = store_papers(conn, [make("2511.00009", "Same title")], "huggingface")
    assert (p.key, new) == ("title:same title", 0)


def test_two_arxiv_papers_with_equal_titles_stay_two(tmp_path: Path) -> None:
    engine = open_engine(f"sqlite:///{tmp_path / 'd.db'}")
    with engine.begin() as conn:
        store_papers(conn, [make("2511.00001", "Introduction")], "huggingface")
        store_papers(conn, [make("2511.00002", "Introduction")], "huggingface")
    assert count(engine, schema.papers) == 2


def test_rollback_leaves_nothing(tmp_path: Path) -> None:
    engine = open_engine(f"sqlite:///{tmp_path / 'd.db'}")
    with engine.connect() as conn:
        tx = conn.begin()
        store_papers(conn, [make("2511.00001", "T")], "huggingface")
        tx.rollback()
    assert count(engine, schema.papers) == 0


# The tables as the first release created them (papers gained categories and a discussion
# link with the arXiv source); the others have not changed since.
FIRST_RELEASE = """
CREATE TABLE papers (
    "key" VARCHAR NOT NULL, source VARCHAR NOT NULL, source_id VARCHAR NOT NULL,
    arxiv_id VARCHAR, title TEXT NOT NULL, title_norm TEXT NOT NULL, abstract TEXT NOT NULL,
    authors JSON NOT NULL, published_at DATETIME, upvotes INTEGER, url TEXT, pdf_url TEXT,
    code_url TEXT, project_url TEXT, organization TEXT, ai_keywords JSON NOT NULL,
    ai_summary TEXT, github_stars INTEGER, first_seen_at DATETIME NOT NULL,
    updated_at DATETIME NOT NULL, PRIMARY KEY ("key"));
CREATE TABLE messages (
    message_id VARCHAR NOT NULL, subscriber_email VARCHAR NOT NULL, run_id INTEGER,
    day DATE NOT NULL, subject TEXT NOT NULL, status VARCHAR NOT NULL, detail TEXT,
    created_at DATETIME NOT NULL, PRIMARY KEY (message_id),
    FOREIGN KEY(run_id) REFERENCES runs (id));
CREATE TABLE deliveries (
    subscriber_email VARCHAR NOT NULL, paper_key VARCHAR NOT NULL, message_id VARCHAR NOT NULL,
    included BOOLEAN NOT NULL, sent_at DATETIME NOT NULL,
    PRIMARY KEY (subscriber_email, paper_key),
    FOREIGN KEY(paper_key) REFERENCES papers ("key"),
    FOREIGN KEY(message_id) REFERENCES messages (message_id));
INSERT INTO messages VALUES ('<old@localhost>', 'ada@example.org', NULL, '2025-11-06', 's',
    'sent', NULL, '2025-11-06 07:00:00');
INSERT INTO deliveries VALUES ('ada@example.org', '{key}', '<old@localhost>', 1,
    '2025-11-06 07:00:00');
"""


def test_a_database_from_the_first_release_is_upgraded_in_place(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, DIGEST_EMAIL_BACKEND="file")
    (tmp_path / "subscribers.toml").write_text(SUBSCRIBERS)
    scratch = make_settings(tmp_path, DIGEST_DATABASE_URL=f"sqlite:///{tmp_path / 'scratch.db'}")
    _, ranked = inspect.rank_for(scratch, "ada@example.org", date(2025, 11, 6))
    already = ranked[0].paper.key  # what ada would get first, had she not got it before
    with sqlite3.connect(tmp_path / "digest.db") as db:
        db.executescript(FIRST_RELEASE.format(key=already))

    report = daily.run(settings, date(2025, 11, 6))
    assert report.sent == 2
    engine = open_engine(settings.database_url)
    with engine.connect() as conn:
        ada = conn.execute(
            select(schema.deliveries.c.paper_key, schema.messages.c.status)
            .join(schema.messages)
            .where(schema.deliveries.c.subscriber_email == "ada@example.org")
        ).all()
    engine.dispose()
    assert (already, "sent") in ada and len(ada) > 1
    assert [k for k, _ in ada].count(already) == 1
