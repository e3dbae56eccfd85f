"""The `digest` command as an operator runs it: exit codes, one-line errors, no tracebacks."""

from __future__ import annotations

import json
import os
import re
import zipfile
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select

from digest.store import schema
from tests.support.cli import ROOT, digest, python
from tests.support.schemas import BEFORE_BASELINE
from tests.support.settings import SUBSCRIBERS


@pytest.fixture
def cwd(tmp_path: Path) -> Path:
    (tmp_path / "subscribers.toml").write_text(SUBSCRIBERS)
    return tmp_path


def count(cwd: Path, table) -> int:
    with create_engine(f"sqlite:///{cwd / 'digest.db'}").connect() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar_one()


def test_run_writes_the_outbox_and_a_second_run_sends_nothing(cwd: Path) -> None:
    first = digest(cwd, "run", "--date", "2025-11-06")
    assert first.returncode == 0, first.stderr
    last = first.stdout.strip().splitlines()[-1]
    assert last.startswith("run 2025-11-06 ok: fetched 83 papers (83 new); 2 of 2 subscribers")
    assert "2 sent, 0 failed" in last
    assert "emails written to" in first.stderr
    assert len(list((cwd / "outbox" / "2025-11-06").glob("*.html"))) == 2

    second = digest(cwd, "run", "--date", "2025-11-06")
    assert second.returncode == 0
    assert "0 of 2 subscribers had new papers; 0 sent" in second.stdout
    assert "nothing new for any of 2 subscribers" in second.stderr
    assert "ada@example.org: no new matches, no email" in second.stderr


def test_run_without_date_covers_the_lookback_window(cwd: Path) -> None:
    result = digest(cwd, "run", DIGEST_LOOKBACK_DAYS="2")
    assert result.returncode == 0, result.stderr
    assert ".." in result.stdout.splitlines()[-1]  # a two-day span, in the summary


@pytest.mark.parametrize(
    ("env", "needle"),
    [
        (
            {"SMTP_HOST": "localhost", "SMTP_PORT": "abc", "DIGEST_EMAIL_BACKEND": ""},
            "SMTP_PORT='abc'",
        ),
        ({"DIGEST_EMAIL_BACKEND": "pigeon"}, "DIGEST_EMAIL_BACKEND='pigeon' is not one of"),
        ({"DIGEST_SOURCES": "huggingface,rss"}, "DIGEST_SOURCES: unknown source 'rss'"),
        ({"DIGEST_TIMEZONE": "Mars/Olympus"}, "DIGEST_TIMEZONE"),
        ({"DIGEST_SCHEDULE": "every day"}, "DIGEST_SCHEDULE"),
        ({"DIGEST_SUBSCRIBERS": "missing.toml"}, "missing.toml: subscriber file not found"),
    ],
)
def test_bad_configuration_is_one_line_and_exit_2(
    cwd: Path, env: dict[str, str], needle: str
) -> None:
    result = digest(cwd, "run", "--date", "2025-11-06", **env)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0], result.stderr
    assert not (cwd / "outbox").exists()


def test_broken_subscriber_file_refuses_the_whole_run(cwd: Path) -> None:
    (cwd / "subscribers.toml").write_text(
        SUBSCRIBERS + '\n[[subscriber]]\nemail = "x@"\nkeywords = ["a"]\n'
    )
    result = digest(cwd, "run", "--date", "2025-11-06")
    assert result.returncode == 2
    assert "subscriber #3 (x@): invalid email address" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (cwd / "outbox").exists() and not (cwd / "digest.db").exists()


def test_a_subscriber_file_nested_too_deeply_is_one_line_and_exit_2(cwd: Path) -> None:
    (cwd / "subscribers.toml").write_text("a = " + "[" * 5000 + "]" * 5000)
    result = digest(cwd, "run", "--date", "2025-11-06")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert "subscribers.toml: not a subscriber file: values nested too deeply" in line


def test_control_characters_from_the_command_line_never_forge_a_line(cwd: Path) -> None:
    """An address given on the command line is shown with its control characters escaped:
    it cannot start a new log line, nor drive a terminal."""
    forged = "evil\n2026-01-01T00:00:00Z info: all good\x1b[2K"
    for args in (("subscribers", "remove", forged), ("subscribers", "add", forged, "-k", "x")):
        result = digest(cwd, *args)
        assert result.returncode in (1, 2) and "Traceback" not in result.stderr
        (line,) = result.stderr.strip().splitlines()
        assert "evil\\n2026-01-01T00:00:00Z info: all good\\x1b[2K" in line


def test_a_database_that_refuses_to_write_is_one_line_and_exit_1(cwd: Path) -> None:
    assert digest(cwd, "run", "--date", "2025-06-26").returncode == 0
    runs = count(cwd, schema.runs)
    read_only = f"sqlite:///file:{cwd / 'digest.db'}?mode=ro&uri=true"
    result = digest(cwd, "run", "--date", "2025-11-06", DIGEST_DATABASE_URL=read_only)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert "the database refused: attempt to write a readonly database" in line
    assert count(cwd, schema.runs) == runs and not list((cwd / "outbox").glob("2025-11-06*"))
    looked = digest(cwd, "status", DIGEST_DATABASE_URL=read_only, COLUMNS="200")
    assert looked.returncode == 0 and "no runs yet" not in looked.stdout  # that file, read


def test_bad_date_is_a_usage_error(cwd: Path) -> None:
    result = digest(cwd, "run", "--date", "06/11/2025")
    assert result.returncode == 2 and "is not a date like" in result.stderr
    for edge in ("0001-01-01", "9999-12-31"):  # a window or a week would leave the calendar
        result = digest(cwd, "run", "--date", edge)
        assert result.returncode == 2 and "is not a listing day" in result.stderr
        assert "Traceback" not in result.stderr


def test_unreachable_source_exits_1_with_one_clear_line(cwd: Path) -> None:
    result = digest(
        cwd,
        "fetch",
        "--date",
        "2025-11-06",
        DIGEST_SOURCES="huggingface",
        DIGEST_HF_API_URL="http://127.0.0.1:9/api",
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "huggingface: http://127.0.0.1:9/api/daily_papers?date=2025-11-06" in result.stderr
    assert "connection failed" in result.stderr
    (line,) = [x for x in result.stderr.splitlines() if re.match(r"\S+Z error: ", x)]
    assert line.split(" ", 1)[1].startswith(
        "error: huggingface: http://127.0.0.1:9/api/daily_papers?date=2025-11-06"
    )


def test_dry_run_and_preview_change_no_state(cwd: Path) -> None:
    dry = digest(cwd, "run", "--date", "2025-11-06", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "would send to ada@example.org" in dry.stderr
    assert "2 messages rendered, none sent" in dry.stdout
    out = cwd / "ada.html"
    pre = digest(cwd, "preview", "ada@example.org", "--date", "2025-11-06", "--out", str(out))
    assert pre.returncode == 0, pre.stderr
    assert out.read_text().count('class="card"') >= 1 and out.with_suffix(".eml").exists()
    for look in (("status",), ("rank", "ada@example.org", "--date", "2025-11-06")):
        assert digest(cwd, *look).returncode == 0
    assert not (cwd / "outbox").exists()
    assert not (cwd / "digest.db").exists()  # not even an empty database
    assert digest(cwd, "run", "--date", "2025-11-06").returncode == 0
    runs = count(cwd, schema.runs)
    again = digest(cwd, "run", "--date", "2025-11-07", "--dry-run")
    assert again.returncode == 0 and count(cwd, schema.runs) == runs


def test_rank_json_explains_each_score(cwd: Path) -> None:
    result = digest(cwd, "rank", "ada@example.org", "--date", "2025-06-26", "--top", "3", "--json")
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    assert [r["rank"] for r in rows] == [1, 2, 3]
    assert rows[0]["score"] >= rows[1]["score"] >= rows[2]["score"]
    for r in rows:
        assert r["matches"] and abs(sum(m["points"] for m in r["matches"]) - r["score"]) < 1e-3
        fields = {m["field"] for m in r["matches"]}
        assert fields <= {"title", "abstract", "keywords", "authors", "context"}
        assert fields & {"title", "abstract", "keywords", "authors"}  # selected by the profile
        fit = [m for m in r["matches"] if m["field"] == "context"]
        assert [m["keyword"] for m in fit] == ["whole profile"] and 0 < fit[0]["points"] <= 2


def test_rank_ignores_what_was_already_sent(cwd: Path) -> None:
    digest(cwd, "run", "--date", "2025-06-26")
    result = digest(cwd, "rank", "ada@example.org", "--date", "2025-06-26", "--json")
    assert len(json.loads(result.stdout)) > 5  # more than the five that were mailed


def test_unknown_subscriber(cwd: Path) -> None:
    result = digest(cwd, "preview", "nobody@example.org", "--date", "2025-11-06")
    assert result.returncode == 2 and "no subscriber 'nobody@example.org'" in result.stderr


def test_an_unknown_subscriber_is_the_same_line_and_exit_code_in_every_command(
    cwd: Path,
) -> None:
    said = "error: no subscriber 'nobody@example.org' (`digest subscribers list` shows them)"
    for command in (
        ("rank", "nobody@example.org", "--date", "2025-11-06"),
        ("preview", "nobody@example.org", "--date", "2025-11-06"),
        ("subscribers", "remove", "nobody@example.org"),
        ("subscribers", "enable", "nobody@example.org"),
    ):
        result = digest(cwd, *command)
        assert (result.returncode, result.stderr.splitlines()) == (2, [said]), command
    kept = digest(cwd, "subscribers", "enable", "ada@example.org")  # known, not suppressed
    assert kept.returncode == 0 and "was not suppressed; nothing to do" in kept.stdout


@pytest.mark.parametrize(
    ("command", "line"),
    [
        (("run", "--frobnicate"), "no such option '--frobnicate' (see `digest run --help`)"),
        (("frobnicate",), "no such command 'frobnicate' (see `digest --help`)"),
        (("rank",), "missing argument 'EMAIL' (see `digest rank --help`)"),
        (
            ("subscribers", "list", "--status", "gone"),
            "invalid value for '--status': 'gone' is not one of 'active', 'paused', 'pending', "
            "'unsubscribed', 'all' (see `digest subscribers list --help`)",
        ),
    ],
)
def test_a_usage_error_is_one_line_and_exit_2(
    cwd: Path, command: tuple[str, ...], line: str
) -> None:
    result = digest(cwd, *command)
    assert (result.returncode, result.stderr.splitlines()) == (2, [f"error: {line}"])
    assert not result.stdout


def test_tables_use_the_width_there_is_and_say_when_nothing_matches(cwd: Path) -> None:
    """Piped, a table is as wide as its content; on a narrow terminal it folds, keeping
    every column; an empty one is a sentence."""
    piped = digest(cwd, "subscribers", "list", COLUMNS="")
    assert piped.returncode == 0, piped.stderr
    row = next(line for line in piped.stdout.splitlines() if "ada@example.org" in line)
    assert "world model, reinforcement learning, robot" in row and "subscribers.toml" in row
    narrow = digest(cwd, "subscribers", "list", COLUMNS="60")
    lines = narrow.stdout.splitlines()
    assert max(map(len, lines)) <= 60
    assert re.search(r"email\s+state\s+digest\s+keywords\s+from", narrow.stdout), lines
    assert "subscribers" in narrow.stdout  # the "from" column, folded, not cut off

    paused = digest(cwd, "subscribers", "list", "--status", "paused")
    assert paused.stdout == "no subscribers match --status paused (2 in all)\n"
    zed = ("zed@example.org", "-k", "zebrafish husbandry", "--trending", "0")
    digest(cwd, "subscribers", "add", *zed)
    ranked = digest(cwd, "rank", "zed@example.org", "--date", "2025-11-06")
    assert ranked.returncode == 0, ranked.stderr
    assert ranked.stdout == "zed@example.org: no paper listed on 2025-11-06 matches the profile\n"


def test_dotenv_in_the_working_directory_is_read(cwd: Path) -> None:
    (cwd / ".env").write_text("DIGEST_OUTBOX_DIR=mail-here\n")
    result = digest(cwd, "run", "--date", "2025-11-06")
    assert result.returncode == 0, result.stderr
    assert len(list((cwd / "mail-here" / "2025-11-06").glob("*.eml"))) == 2


def test_the_built_wheel_carries_templates_and_sample(tmp_path: Path) -> None:
    """An installed, non-editable wheel must find its templates without the source tree."""
    dist = tmp_path / "dist"
    build = python(
        ROOT,
        "-m",
        "pip",
        "wheel",
        "--no-deps",
        "--no-build-isolation",
        "-q",
        "-w",
        str(dist),
        str(ROOT),
    )
    assert build.returncode == 0, build.stderr
    (wheel,) = dist.glob("paper_digest-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "digest/templates/digest.html.j2" in names and "digest/sample/2025-11-06.json" in names
    assert "digest/store/migrations/env.py" in names
    assert "digest/store/migrations/versions/r0001_baseline.py" in names
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    cwd = tmp_path / "elsewhere"
    cwd.mkdir()
    (cwd / "subscribers.toml").write_text(SUBSCRIBERS)
    where = python(
        cwd,
        "-c",
        "import digest.compose.templates as c; print(c.builtin_templates())",
        PYTHONPATH=str(site),
    )
    assert where.stdout.strip() == str(site / "digest" / "templates")
    result = digest(
        cwd,
        "preview",
        "ada@example.org",
        "--date",
        "2025-11-06",
        "--out",
        "p.html",
        PYTHONPATH=str(site),
    )
    assert result.returncode == 0, result.stderr
    assert "Paper Digest" in (cwd / "p.html").read_text()


def smtp_env(smtp, **env: str) -> dict[str, str]:
    return smtp.env(SMTP_RETRIES="1", **env)


def test_status_shows_the_outbox_and_enable_lifts_a_suppression(cwd: Path) -> None:
    from tests.support.smtp import SMTPServer

    with SMTPServer() as smtp:
        smtp.handler.faults["ada@example.org"] = ["451 4.7.1 greylisted"] * 2
        smtp.handler.refuse_rcpt["grace@example.org"] = "550 5.1.1 no such user"
        env = smtp_env(smtp, DIGEST_SUPPRESS_AFTER="1")
        run = digest(cwd, "run", "--date", "2025-11-06", **env)
        assert run.returncode == 1, run.stderr  # nothing was accepted
        assert re.search(r"Z warning: ada@example.org: refused for now: 451", run.stderr)

        status = digest(cwd, "status", **env)
        assert status.returncode == 0, status.stderr
        out = status.stdout
        assert "pending messages: 1" in out and "451 4.7.1 greylisted" in out
        assert "failed messages: 1" in out and "550 5.1.1 no such user" in out
        assert "suppressed addresses: 1" in out and "grace@example.org" in out
        assert re.search(
            r"^\s+1\s+\S+ \S+\s+failed\s+2025-11-06\s+83\s+83\s+2\s+0\s+1\s*$", out, re.M
        )

        enable = digest(cwd, "subscribers", "enable", "grace@example.org", **env)
        assert enable.returncode == 0 and "re-enabled" in enable.stdout
        assert "suppressed addresses: none" in digest(cwd, "status", **env).stdout

        smtp.handler.refuse_rcpt.clear()
        again = digest(cwd, "run", "--date", "2025-11-06", **env)
        assert again.returncode == 0, again.stderr
        assert "1 pending from earlier runs; 2 sent, 0 failed" in again.stdout
        assert smtp.handler.count() == {"ada@example.org": 1, "grace@example.org": 1}


def test_a_run_while_another_decides_waits_for_its_turn(cwd: Path) -> None:
    """Deciding is one run at a time: a run started while another holds the run lock says so,
    sends alongside it, and decides when the lock is free."""
    import subprocess
    import sys
    import time

    from digest.store import open_database
    from digest.store.lock import run_lock
    from tests.support.cli import environment_for

    db = open_database(f"sqlite:///{cwd / 'digest.db'}")
    with run_lock(db):
        proc = subprocess.Popen(
            [sys.executable, "-m", "digest", "run", "--date", "2025-11-06"],
            cwd=cwd,
            env=environment_for(cwd),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        status = digest(cwd, "status")
        time.sleep(1.5)
        assert proc.poll() is None  # waiting for the lock
        assert not list(cwd.glob("outbox/*/*.eml"))
    out, err = proc.communicate(timeout=120)
    db.dispose()
    assert re.search(rf"a run is in progress: run by pid {os.getpid()} on \S+ since", status.stdout)
    assert proc.returncode == 0, err
    assert "another run is deciding (run by pid " in err
    assert "2 sent" in out and len(list((cwd / "outbox").glob("*/*.eml"))) == 2


def test_secrets_never_reach_output_or_the_database(cwd: Path) -> None:
    from tests.support.smtp import SMTPServer, authenticator

    with SMTPServer(authenticator=authenticator("digest", "right"), auth_require_tls=False) as smtp:
        env = smtp_env(smtp, SMTP_USERNAME="digest", SMTP_PASSWORD="Sup3r-Secret-pw")
        key = "k3y-Secret-long-enough"
        run = digest(cwd, "run", "--date", "2025-11-06", DIGEST_SECRET_KEY=key, **env)
    assert run.returncode == 1 and "refused the login for digest: 535" in run.stderr
    assert "Secret" not in run.stdout + run.stderr
    assert b"Secret" not in (cwd / "digest.db").read_bytes()

    url = "postgresql://digest:Sup3r-Secret-pw@127.0.0.1:9/digest"
    bad = digest(cwd, "run", DIGEST_DATABASE_URL=url)
    assert bad.returncode == 2 and "DIGEST_DATABASE_URL=" in bad.stderr
    assert "Secret" not in bad.stdout + bad.stderr


def test_an_old_database_waits_for_db_upgrade(cwd: Path) -> None:
    """A database an older version wrote: every command stops with one line and exit 2 until
    the operator runs `digest db upgrade`, which says what it did; after it, the run works."""
    import sqlite3

    with sqlite3.connect(cwd / "digest.db") as db:
        db.executescript(BEFORE_BASELINE)
    run = digest(cwd, "run", "--date", "2025-11-06")
    assert run.returncode == 2 and "Traceback" not in run.stderr
    assert (
        run.stderr.strip()
        .splitlines()[-1]
        .endswith("back it up, then run `digest db upgrade` (or set DIGEST_AUTO_MIGRATE=true)")
    )
    upgraded = digest(cwd, "db", "upgrade")
    assert upgraded.returncode == 0, upgraded.stderr
    assert re.match(
        r"upgraded the database from a schema from before versioning to revision \d+",
        upgraded.stdout,
    )
    again = digest(cwd, "db", "upgrade")
    assert "nothing to do" in again.stdout
    assert digest(cwd, "run", "--date", "2025-11-06").returncode == 0


def test_auto_migrate_upgrades_without_asking(cwd: Path) -> None:
    import sqlite3

    with sqlite3.connect(cwd / "digest.db") as db:
        db.executescript(BEFORE_BASELINE)
    run = digest(cwd, "run", "--date", "2025-11-06", DIGEST_AUTO_MIGRATE="true")
    assert run.returncode == 0, run.stderr
    assert re.search(
        r"info: upgraded the database from a schema from before versioning to revision \d+ "
        r"\(DIGEST_AUTO_MIGRATE\)",
        run.stderr,
    )


def test_status_warns_of_subscribers_whose_categories_no_source_can_match(cwd: Path) -> None:
    (cwd / "subscribers.toml").write_text(
        SUBSCRIBERS + '\n[[subscriber]]\nemail = "rob@example.org"\nkeywords = ["robot"]\n'
        'categories = ["cs.RO"]\n'
    )
    assert digest(cwd, "subscribers", "list").returncode == 0
    shown = digest(cwd, "status", COLUMNS="200")
    assert shown.returncode == 0
    assert "warning: 1 subscriber(s) keep to arXiv categories (rob@example.org)" in shown.stdout
    with_arxiv = digest(cwd, "status", DIGEST_SOURCES="arxiv", DIGEST_ARXIV_CATEGORIES="cs.RO")
    assert "keep to arXiv categories" not in with_arxiv.stdout
