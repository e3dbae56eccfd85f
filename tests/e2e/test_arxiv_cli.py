"""arXiv as a source of `digest` processes: a weekend's empty feed is a quiet day, an unknown
category fails the run in one line, the settings and the subscriber file's categories are
checked at start, and a feed that stopped moving is reported by the run and by status."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.support.cli import digest
from tests.support.listings import ANNOUNCED, SATURDAY, announcement


def test_a_weekend_feed_is_a_quiet_day_not_a_failure(cwd: Path, arxiv_feed) -> None:
    arxiv_feed.day = SATURDAY
    done = digest(
        cwd,
        "run",
        "--date",
        str(SATURDAY),
        DIGEST_SOURCES="arxiv",
        DIGEST_ARXIV_RSS_URL=arxiv_feed.rss_url,
        DIGEST_ARXIV_CATEGORIES="cs.LG",
    )
    assert done.returncode == 0, done.stderr
    assert "no announcement in cs.LG for Sat 2025-11-08" in done.stderr
    assert "nothing new for any of 2 subscribers" in done.stderr
    assert "Traceback" not in done.stderr


def test_an_unknown_category_is_refused_at_start_in_one_line(cwd: Path, arxiv_feed) -> None:
    """arXiv has no cs.XX: refused before anything is fetched (a category arXiv lacks would
    fetch nothing, every day, or filter every paper out of a digest)."""
    done = digest(
        cwd,
        "run",
        "--date",
        str(ANNOUNCED),
        DIGEST_SOURCES="arxiv",
        DIGEST_ARXIV_RSS_URL=arxiv_feed.rss_url,
        DIGEST_ARXIV_CATEGORIES="cs.XX",
    )
    assert done.returncode == 2 and "Traceback" not in done.stderr
    (line,) = done.stderr.strip().splitlines()
    assert "DIGEST_ARXIV_CATEGORIES: 'cs.XX' is not an arXiv category" in line
    assert not arxiv_feed.requests and not (cwd / "digest.db").exists()


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"DIGEST_SOURCES": "arxiv"}, "DIGEST_ARXIV_CATEGORIES is empty"),
        (
            {"DIGEST_SOURCES": "arxiv", "DIGEST_ARXIV_CATEGORIES": "cs LG"},
            "'cs LG' is not an arXiv category",
        ),
        ({"DIGEST_ARXIV_CROSS_LISTS": "perhaps"}, "DIGEST_ARXIV_CROSS_LISTS='perhaps'"),
    ],
)
def test_arxiv_settings_are_checked_at_start(cwd: Path, env, message) -> None:
    done = digest(cwd, "run", **env)
    assert done.returncode == 2
    assert message in done.stderr and len(done.stderr.strip().splitlines()) == 1


@pytest.fixture
def cwd(tmp_path: Path) -> Path:
    from tests.support.settings import SUBSCRIBERS

    (tmp_path / "subscribers.toml").write_text(SUBSCRIBERS)
    return tmp_path


def test_a_category_that_is_not_one_refuses_the_file(cwd: Path) -> None:
    (cwd / "subscribers.toml").write_text(
        '[[subscriber]]\nemail = "rob@example.org"\nkeywords = ["robot"]\n'
        'categories = ["robots!"]\n'
    )
    done = digest(cwd, "run", "--dry-run", "--date", str(ANNOUNCED))
    assert done.returncode == 2
    assert "subscriber #1 (rob@example.org)" in done.stderr and "'robots!'" in done.stderr


def test_a_feed_that_stopped_moving_is_reported_by_the_run_and_by_status(
    cwd: Path, arxiv_feed
) -> None:
    announcement(arxiv_feed)
    env = {
        "DIGEST_SOURCES": "arxiv",
        "DIGEST_ARXIV_RSS_URL": arxiv_feed.rss_url,
        "DIGEST_ARXIV_CATEGORIES": "cs.LG",
    }
    today = datetime.now(UTC).date()
    arxiv_feed.day = today
    arxiv_feed.built_at = datetime.now(UTC)
    ok = digest(cwd, "run", "--date", str(today), **env)
    assert ok.returncode == 0 and "stale" not in ok.stderr + ok.stdout
    status = digest(cwd, "status", **env)
    assert re.search(r"arxiv\s+\S+\s.*\bok\b", status.stdout), status.stdout

    # the feed keeps its old build for a week: 304s, nothing new, and that is said
    arxiv_feed.day = today - timedelta(days=8)
    arxiv_feed.built_at = datetime.now(UTC) - timedelta(days=8)
    done = digest(cwd, "run", **env)
    assert done.returncode == 0
    assert "arxiv looks stale: its feed was last rebuilt" in done.stderr
    assert done.stdout.strip().splitlines()[-1].endswith("stale: arxiv")
    status = digest(cwd, "status", **env)
    assert re.search(r"arxiv .*STALE: its feed was last\s", status.stdout), status.stdout
