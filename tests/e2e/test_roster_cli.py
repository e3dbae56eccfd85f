"""The operator's subscriber commands, and runs that read the subscriber file, as `digest`
processes: an unsubscribe is never undone, export and import round-trip, a broken file
stops the run."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from digest import store
from digest.jobs import roster
from digest.jobs.visitors import Visitors
from tests.support.cli import digest
from tests.support.settings import SUBSCRIBERS, imported

# Every test here runs on SQLite and on PostgreSQL (`database` in conftest.py).
pytestmark = pytest.mark.usefixtures("database")


def test_an_unsubscribe_is_never_undone_by_an_import_or_the_operator(workdir: Path) -> None:
    path = workdir / "subscribers.toml"
    db, file = imported(workdir)
    with db.reading() as conn:
        ada = store.subscribers.get(conn, "ada@example.org")
    Visitors(db).unsubscribe(ada)
    path.write_text(SUBSCRIBERS.replace("max_papers = 5", "max_papers = 6"))
    with db.begin() as conn:
        result = roster.sync_file(conn, file)
        assert result.unsubscribed == ["ada@example.org"]
        assert store.subscribers.get(conn, "ada@example.org").status == "unsubscribed"
    added = digest(
        workdir,
        "subscribers",
        "add",
        "ada@example.org",
        "-k",
        "robots",
        DIGEST_SUBSCRIBERS=str(path),
    )
    assert added.returncode == 1 and "only they can subscribe again" in added.stderr
    run = digest(workdir, "run", "--date", "2025-11-06", DIGEST_SUBSCRIBERS=str(path))
    assert run.returncode == 0
    assert not list((workdir / "outbox").glob("*/ada@example.org*"))
    assert list((workdir / "outbox").glob("*/grace@example.org*"))


def test_operator_commands_round_trip_through_export_and_import(tmp_path: Path) -> None:
    env = {"DIGEST_SUBSCRIBERS": str(tmp_path / "none.toml")}
    (tmp_path / "none.toml").write_text("")
    add = digest(
        tmp_path,
        "subscribers",
        "add",
        "Bob@Example.org",
        "-k",
        "world model",
        "-k",
        "offline RL",
        "--exclude",
        "survey",
        "--max-papers",
        "4",
        "--weekly",
        "--name",
        "Bob",
        **env,
    )
    assert add.returncode == 0 and "bob@example.org: added" in add.stdout
    bad = digest(tmp_path, "subscribers", "add", "nope", "-k", "x", **env)
    assert bad.returncode == 2 and bad.stderr.startswith("error: nope: invalid email address")
    listed = digest(tmp_path, "subscribers", "list", **env)
    assert "bob@example.org" in listed.stdout and "weekly" in listed.stdout

    exported = digest(tmp_path, "subscribers", "export", **env)
    assert exported.returncode == 0
    (entry,) = tomllib.loads(exported.stdout)["subscriber"]
    assert entry == {
        "email": "bob@example.org",
        "name": "Bob",
        "keywords": ["world model", "offline RL"],
        "exclude": ["survey"],
        "max_papers": 4,
        "frequency": "weekly",
        "trending": 3,  # what `subscribers add` gives a new subscriber unless told
    }
    other = tmp_path / "other"
    other.mkdir()
    (other / "export.toml").write_text(exported.stdout)
    (other / "none.toml").write_text("")
    imported = digest(
        other, "subscribers", "import", "export.toml", DIGEST_SUBSCRIBERS=str(other / "none.toml")
    )
    assert "1 added" in imported.stdout, imported.stderr
    again = digest(other, "subscribers", "export", DIGEST_SUBSCRIBERS=str(other / "none.toml"))
    assert again.stdout == exported.stdout

    removed = digest(tmp_path, "subscribers", "remove", "bob@example.org", **env)
    assert removed.returncode == 0
    gone = digest(tmp_path, "subscribers", "remove", "bob@example.org", **env)
    assert gone.returncode == 2 and "no subscriber 'bob@example.org'" in gone.stderr


def test_a_broken_file_stops_the_run_and_imports_nothing(workdir: Path) -> None:
    path = workdir / "subscribers.toml"
    db, _ = imported(workdir)
    path.write_text(SUBSCRIBERS.replace('email = "grace@example.org"', 'email = "grace"'))
    run = digest(workdir, "run", "--date", "2025-11-06", DIGEST_SUBSCRIBERS=str(path))
    assert run.returncode == 2 and "subscriber #2 (grace): invalid email" in run.stderr
    with db.reading() as conn:
        assert store.subscribers.get(conn, "grace@example.org").status == "active"
