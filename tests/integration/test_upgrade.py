"""Schema upgrades: a database written by an older version is upgraded only when asked, and
loses nothing; the migrations from the baseline give the schema a new database gets."""

from __future__ import annotations

import sqlite3
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy import MetaData, inspect, select, text

from digest.errors import ConfigError
from digest.jobs import daily
from digest.jobs import inspect as looks
from digest.jobs.wiring import upgrade
from digest.store import migrations, schema
from tests.support.databases import database_url
from tests.support.schemas import BEFORE_BASELINE
from tests.support.settings import SUBSCRIBERS, make_settings, open_engine
from tests.support.smtp import SMTPServer

OLD_ROWS = """
INSERT INTO papers ("key", source, source_id, title, title_norm, abstract, authors, ai_keywords,
    first_seen_at, updated_at) VALUES ('{key}', 'huggingface', '{key}', 't', 't', 'a', '[]',
    '[]', '2025-11-06 06:00:00', '2025-11-06 06:00:00');
INSERT INTO messages VALUES ('<old@localhost>', 'ada@example.org', NULL, '2025-11-06', 's',
    'sent', NULL, '2025-11-06 07:00:00');
INSERT INTO deliveries VALUES ('ada@example.org', '{key}', '<old@localhost>', 1,
    '2025-11-06 07:00:00');
"""


def test_a_database_from_before_the_baseline_is_upgraded_in_place(tmp_path: Path) -> None:
    """Only SQLite databases are that old: no earlier version ran on anything else."""
    settings = make_settings(tmp_path, DIGEST_EMAIL_BACKEND="file")
    (tmp_path / "subscribers.toml").write_text(SUBSCRIBERS)
    scratch = make_settings(tmp_path, DIGEST_DATABASE_URL=f"sqlite:///{tmp_path / 'scratch.db'}")
    _, ranked, _ = looks.rank_for(scratch, "ada@example.org", date(2025, 11, 6))
    already = ranked[0].paper.key  # what ada would get first, had she not got it before
    with sqlite3.connect(tmp_path / "digest.db") as db:
        db.executescript(BEFORE_BASELINE + OLD_ROWS.format(key=already))

    with pytest.raises(ConfigError, match="run `digest db upgrade`"):
        daily.run(settings, date(2025, 11, 6))  # not behind the operator's back
    before, now = upgrade(settings)
    assert before.current is None and not before.empty and now == before.head
    report = daily.run(settings, date(2025, 11, 6))
    assert report.sent == 2
    engine = open_engine(settings.database.url)
    with engine.connect() as conn:
        m = schema.messages
        ada = conn.execute(
            select(m.c.papers, m.c.status).where(m.c.subscriber_email == "ada@example.org")
        ).all()
        claimed = conn.execute(
            select(schema.claims.c.paper_key).where(
                schema.claims.c.subscriber_email == "ada@example.org"
            )
        ).scalars()
        claimed = sorted(claimed)
    engine.dispose()
    assert ([already], "sent") in ada and len(ada) == 2
    carried = sorted(key for papers, _ in ada for key in papers)
    assert carried == claimed and carried.count(already) == 1


def _baseline(url: str) -> None:
    """An empty database brought to the baseline's schema, as release 0.1.0 left it."""
    engine = open_engine_at(url)
    with engine.begin() as conn:
        migrations.upgrade(conn, "0001")
    engine.dispose()


def open_engine_at(url: str):
    from sqlalchemy import create_engine

    return create_engine(url)


NAIVE = datetime(2025, 11, 6, 7, 0, 0)
ROWS = {
    "papers": {
        "key": "arxiv:2511.00001",
        "source": "huggingface",
        "source_id": "2511.00001",
        "arxiv_id": "2511.00001",
        "title": "World Models for Robots",
        "title_norm": "world models for robots",
        "abstract": "We study world models for robots.",
        "authors": ["Ada Lovelace"],
        "published_at": datetime(2025, 11, 5, 9, 30),
        "upvotes": 42,
        "url": "https://huggingface.co/papers/2511.00001",
        "ai_keywords": ["world model"],
        "categories": ["cs.RO"],
        "first_seen_at": NAIVE,
        "updated_at": NAIVE,
    },
    "listings": {
        "paper_key": "arxiv:2511.00001",
        "source": "huggingface",
        "listed_on": date(2025, 11, 6),
    },
    "sources": {"name": "huggingface", "checked_at": NAIVE, "last_listed": date(2025, 11, 6)},
    "subscribers": {
        "email": "ada@example.org",
        "name": "Ada",
        "profile": {"email": "ada@example.org", "keywords": ["robot"], "frequency": "weekly"},
        "updated_at": NAIVE,
        "uid": "u-ada",
        "status": "active",
        "paused": False,
        "origin": "cli",
        "notices": [NAIVE.isoformat()],
        "created_at": NAIVE,
        "confirmed_at": NAIVE,
    },
    "meta": {"key": "subscribers_file:/x", "value": "abc"},
    "runs": {
        "started_at": NAIVE,
        "finished_at": NAIVE,
        "status": "ok",
        "window_start": date(2025, 11, 6),
        "window_end": date(2025, 11, 6),
        "sent": 0,
    },
    "messages": {
        "message_id": "<digest.20251106.pending@localhost>",
        "subscriber_email": "ada@example.org",
        "day": date(2025, 11, 6),
        "subject": "1 paper this week for robot",
        "status": "pending",
        "created_at": NAIVE,
        "attempts": 1,
        "raw": b"Subject: 1 paper this week for robot\r\nTo: ada@example.org\r\n\r\nhello\r\n",
    },
    "deliveries": {
        "subscriber_email": "ada@example.org",
        "paper_key": "arxiv:2511.00001",
        "message_id": "<digest.20251106.pending@localhost>",
        "included": True,
        "decided_at": NAIVE,
    },
    "suppressions": {
        "email": "gone@example.org",
        "failures": 2,
        "last_answer": "550 5.1.1 no such user",
        "first_failed_at": NAIVE,
    },
}


# Rows a later revision moves: the message's bytes to `bodies`, its ledger rows to `claims`
# (what it carried) and to the message (what it carried, and passed over).
MOVED = {"messages": {"raw"}, "deliveries": set(ROWS["deliveries"])}
PASSED = "arxiv:2511.00002"
PASSED_OVER = {**ROWS["papers"], "key": PASSED, "source_id": "2511.00002"}


@pytest.mark.usefixtures("database")
def test_a_baseline_database_is_upgraded_and_loses_nothing(tmp_path: Path) -> None:
    """A database as release 0.1.0 left it (the baseline, revision 0001), on SQLite and on
    PostgreSQL: every row survives the upgrade, timestamps read back as the UTC they were,
    and the pending message it held still goes out."""
    url = database_url(tmp_path)
    _baseline(url)
    engine = open_engine_at(url)
    old = MetaData()
    old.reflect(engine)
    with engine.begin() as conn:
        for table, row in ROWS.items():
            conn.execute(old.tables[table].insert().values(**row))
        conn.execute(old.tables["papers"].insert().values(**PASSED_OVER))
        passed = {**ROWS["deliveries"], "paper_key": PASSED_OVER["key"], "included": False}
        conn.execute(old.tables["deliveries"].insert().values(**passed))
    engine.dispose()
    (tmp_path / "subscribers.toml").write_text("")

    with SMTPServer() as smtp:
        settings = make_settings(tmp_path, **smtp.env())
        with pytest.raises(ConfigError, match="has schema revision 0001"):
            daily.run(settings, date(2025, 11, 6))
        before, now = upgrade(settings)
        assert (before.current, now) == ("0001", migrations.head())
        engine = open_engine(url)
        with engine.connect() as conn:
            for table, row in ROWS.items():
                kept = {c: v for c, v in row.items() if c not in MOVED.get(table, ())}
                if not kept:
                    continue
                (got, *_) = (
                    conn.execute(select(schema.metadata.tables[table]).order_by(text("1")))
                    .mappings()
                    .all()
                )
                for column, value in kept.items():
                    want = value.replace(tzinfo=UTC) if isinstance(value, datetime) else value
                    assert got[column] == want, (table, column)
            frequency = conn.execute(select(schema.subscribers.c.frequency)).scalar_one()
            m = schema.messages
            carried = conn.execute(select(m.c.papers)).scalar_one()
            seen = conn.execute(select(schema.passed)).one()
            claims = conn.execute(select(schema.claims)).all()
            (raw,) = conn.execute(select(schema.bodies.c.raw)).scalars()
        assert carried == ["arxiv:2511.00001"]
        message = ROWS["messages"]
        assert seen == (message["message_id"], "ada@example.org", message["day"], [PASSED])
        assert claims == [("arxiv:2511.00001", "ada@example.org")]
        assert raw == ROWS["messages"]["raw"]
        engine.dispose()
        assert frequency == "weekly"
        report = daily.run(settings, date(2025, 11, 6))
        assert report.earlier == 1 and report.sent == 1
        (got,) = smtp.received
        assert got.rcpt_tos == ["ada@example.org"] and got.raw.endswith(b"hello\r\n")


def _shape(url: str) -> dict[str, object]:
    """A schema as the database describes it: tables, columns, keys and indexes."""
    engine = open_engine_at(url)
    found = inspect(engine)
    shape = {
        table: (
            sorted(
                (c["name"], type(c["type"]).__name__, c["nullable"])
                for c in found.get_columns(table)
            ),
            sorted(found.get_pk_constraint(table)["constrained_columns"]),
            sorted((tuple(i["column_names"]), bool(i["unique"])) for i in found.get_indexes(table)),
            sorted(
                (tuple(f["constrained_columns"]), f["referred_table"])
                for f in found.get_foreign_keys(table)
            ),
        )
        for table in sorted(found.get_table_names())
    }
    engine.dispose()
    return shape


@pytest.mark.usefixtures("database")
def test_the_migrations_give_the_schema_a_new_database_gets(tmp_path: Path) -> None:
    """Every revision from an empty database, against the schema created at once."""
    from tests.support.databases import fresh_postgres, is_postgres

    migrated = database_url(tmp_path)
    engine = open_engine_at(migrated)
    with engine.begin() as conn:
        migrations.upgrade(conn)
    engine.dispose()
    other = tmp_path / "created"
    other.mkdir()
    if is_postgres(tmp_path):
        with fresh_postgres(other) as created:
            open_engine(created).dispose()
            assert _shape(migrated) == _shape(created)
    else:
        created = database_url(other)
        open_engine(created).dispose()
        assert _shape(migrated) == _shape(created)


@pytest.mark.usefixtures("database")
def test_a_database_a_newer_version_wrote_is_refused(tmp_path: Path) -> None:
    url = database_url(tmp_path)
    open_engine(url).dispose()
    engine = open_engine_at(url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = 'ffffffff'"))
    engine.dispose()
    (tmp_path / "subscribers.toml").write_text(SUBSCRIBERS)
    with pytest.raises(ConfigError, match="upgraded by a newer paper-digest"):
        daily.run(make_settings(tmp_path), date(2025, 11, 6))
