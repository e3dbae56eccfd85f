"""Papers under their canonical keys in the store, on a real SQLite file."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import func, select

from digest import store
from digest.domain.paper import Paper, canonical_key
from digest.jobs.collect import store_papers
from digest.jobs.send import allowance
from digest.store import schema
from tests.support.databases import database_url
from tests.support.settings import database_of, open_engine

# Every test here runs on SQLite and on PostgreSQL (`database` in conftest.py).
pytestmark = pytest.mark.usefixtures("database")


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
    engine = open_engine(database_url(tmp_path))
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
    engine = open_engine(database_url(tmp_path))
    with engine.begin() as conn:
        store_papers(conn, [make("x1", "Same Title")], "sample")
        (p,), new = store_papers(conn, [make("2511.00009", "Same title")], "huggingface")
    assert (p.key, new) == ("title:same title", 0)


def test_two_arxiv_papers_with_equal_titles_stay_two(tmp_path: Path) -> None:
    engine = open_engine(database_url(tmp_path))
    with engine.begin() as conn:
        store_papers(conn, [make("2511.00001", "Introduction")], "huggingface")
        store_papers(conn, [make("2511.00002", "Introduction")], "huggingface")
    assert count(engine, schema.papers) == 2


def test_rollback_leaves_nothing(tmp_path: Path) -> None:
    engine = open_engine(database_url(tmp_path))
    with engine.connect() as conn:
        tx = conn.begin()
        store_papers(conn, [make("2511.00001", "T")], "huggingface")
        tx.rollback()
    assert count(engine, schema.papers) == 0


def test_a_database_server_that_does_not_answer_is_one_line_naming_it() -> None:
    """Nothing listens on the port: the operator reads one line, with the password masked,
    not the driver's hints on several lines."""
    from digest.errors import ConfigError
    from tests.support.net import free_port

    url = f"postgresql+psycopg://digest:hunter2@127.0.0.1:{free_port()}/paper_digest"
    with pytest.raises(ConfigError) as raised:
        store.open_database(url)
    message = str(raised.value)
    assert message.startswith("DIGEST_DATABASE_URL='postgresql+psycopg://digest:***@127.0.0.1")
    assert "\n" not in message and "hunter2" not in message
    assert "refused" in message.lower()


def test_relay_slots_are_shared_out_and_freed_when_their_holder_is_gone(tmp_path: Path) -> None:
    """Workers never hold more slots than there are between them; one that is gone holds
    none; giving back frees them; a larger total adds slots."""
    db = database_of(tmp_path)
    away: set[str] = set()

    def take(worker: str, want: int, total: int = 3) -> int:
        with db.writing() as conn:
            return len(store.slots.take(conn, worker, want, total, lambda who: away & set(who)))

    assert take("a", 2) == 2
    assert take("b", 3) == 1
    assert take("b", 3) == 1 and take("a", 2) == 2  # taking again keeps what is held
    away.add("a")  # a died: its slots are free
    assert take("b", 3) == 3
    with db.writing() as conn:
        store.slots.give_back(conn, "b")
    away.clear()
    assert take("c", 1) == 1 and take("d", 9, total=5) == 4
    with db.reading() as conn:
        held = store.slots.holders(conn)
    assert sorted(held.values()) == ["c", "d", "d", "d", "d"]


@pytest.mark.parametrize("rate", [0.5, 1.0, 2.0, 3.0, 7.5, 20.0])
def test_the_slots_together_carry_the_rate_limit_and_no_more(rate: float) -> None:
    """However the slots are split between processes, their allowances add up to the rate
    limit's whole messages a second (or the fraction, for a rate below 1), never more."""
    total = 4
    assert allowance(rate, total, range(total)) == (rate if rate < 1 else int(rate))
    for split in ([0], [1, 2], [3], [0, 3], [2]):
        rest = [n for n in range(total) if n not in split]
        assert allowance(rate, total, split) + allowance(rate, total, rest) <= rate
