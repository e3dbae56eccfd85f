"""An unlucky operator's disk: full, read-only, or its database locked by another program.
Each gets one line and exit 1, and nothing is marked done that was not: the next run, on a
disk that works again, sends everything once. The disks are real file systems (a small
tmpfs mounted for the test), so SQLite and the outbox meet the kernel's own refusals."""

from __future__ import annotations

import contextlib
import re
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.cli import digest

SUBSCRIBERS = """
[[subscriber]]
email = "ada@example.org"
keywords = ["world model", "robot"]

[[subscriber]]
email = "grace@example.org"
keywords = ["diffusion", "language model"]
"""
DAY = "2025-06-26"


@contextlib.contextmanager
def tmpfs(path: Path, size: str) -> Iterator[Path]:
    """A file system of `size` at `path` for the test (needs CAP_SYS_ADMIN, as root has)."""
    path.mkdir()
    made = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
        capture_output=True,
        text=True,
    )
    if made.returncode:
        pytest.skip(f"cannot mount a small file system here: {made.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def remount(path: Path, options: str) -> None:
    subprocess.run(["mount", "-o", f"remount,{options}", str(path)], check=True)


def run(cwd: Path, db: Path, *args: str, outbox: Path | None = None):
    env = {
        "DIGEST_DATABASE_URL": f"sqlite:///{db}",
        "DIGEST_SUBSCRIBERS": "subscribers.toml",
        "DIGEST_OUTBOX_DIR": str(outbox or cwd / "outbox"),
        "SMTP_RETRIES": "0",
    }
    return digest(cwd, *args, **env)


def one_error_line(done: subprocess.CompletedProcess[str], *needles: str) -> str:
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    errors = [ln for ln in done.stderr.splitlines() if re.match(r"(\S+Z )?error: ", ln)]
    assert len(errors) == 1, done.stderr
    for needle in needles:
        assert needle in errors[0], errors[0]
    return errors[0]


def fill(path: Path) -> None:
    with contextlib.suppress(OSError), open(path, "wb") as fh:
        while True:
            fh.write(b"\0" * 4096)
            fh.flush()


def mailed(outbox: Path) -> list[str]:
    return sorted(p.name.rsplit(".", 2)[0] for p in outbox.rglob("*.eml"))


@pytest.fixture
def cwd(tmp_path: Path) -> Path:
    (tmp_path / "subscribers.toml").write_text(SUBSCRIBERS)
    return tmp_path


def test_a_full_disk_under_the_database_is_one_line_and_the_next_run_sends_once(
    cwd: Path,
) -> None:
    with tmpfs(cwd / "disk", "400k") as disk:
        done = run(cwd, disk / "digest.db", "run", "--date", DAY)
        one_error_line(done, "the database refused", "database or disk is full")
        assert mailed(cwd / "outbox") == []
        remount(disk, "size=20m")
        again = run(cwd, disk / "digest.db", "run", "--date", DAY)
        assert again.returncode == 0, again.stderr
        assert mailed(cwd / "outbox") == ["ada@example.org", "grace@example.org"]
        assert run(cwd, disk / "digest.db", "run", "--date", DAY).returncode == 0
        assert len(list((cwd / "outbox").rglob("*.eml"))) == 2  # nothing sent twice


def test_a_full_disk_under_the_outbox_leaves_the_mail_pending_and_no_scraps(cwd: Path) -> None:
    with tmpfs(cwd / "disk", "1m") as disk:
        fill(disk / "filler")
        done = run(cwd, cwd / "digest.db", "run", "--date", DAY, outbox=disk / "outbox")
        one_error_line(done, "cannot write to outbox", "No space left on device")
        assert "2 left pending for the next run" in done.stdout
        assert [p.name for p in disk.rglob("*") if p.is_file()] == ["filler"]
        (disk / "filler").unlink()
        again = run(cwd, cwd / "digest.db", "run", "--date", DAY, outbox=disk / "outbox")
        assert again.returncode == 0, again.stderr
        assert mailed(disk / "outbox") == ["ada@example.org", "grace@example.org"]


def test_a_read_only_disk_is_one_line_naming_it(cwd: Path) -> None:
    with tmpfs(cwd / "disk", "20m") as disk:
        assert run(cwd, disk / "digest.db", "run", "--date", DAY).returncode == 0
        remount(disk, "ro")
        for args in (("run", "--date", "2025-11-06"), ("status",)):
            done = run(cwd, disk / "digest.db", *args)
            one_error_line(done, "the database refused", f"{disk} is on a read-only file system")
        remount(disk, "rw")
        assert run(cwd, disk / "digest.db", "run", "--date", "2025-11-06").returncode == 0


def test_a_database_another_program_holds_locked_is_one_line(cwd: Path) -> None:
    db = cwd / "digest.db"
    assert run(cwd, db, "run", "--date", DAY).returncode == 0
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        done = run(cwd, db, "run", "--date", "2025-11-06")
    finally:
        holder.rollback()
        holder.close()
    one_error_line(done, "the database refused", "database is locked")
    again = run(cwd, db, "run", "--date", "2025-11-06")
    assert again.returncode == 0 and "sent" in again.stdout
