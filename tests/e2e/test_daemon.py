"""`digest daemon` as a process: it runs on its schedule, survives a run that cannot start,
and stops cleanly on SIGTERM, finishing the message being sent and leaving the rest pending."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.support.cli import digest, environment, write_subscribers
from tests.support.listings import sample_items
from tests.support.smtp import SMTPServer

# Every test here runs on SQLite and on PostgreSQL (`database` in conftest.py).
pytestmark = pytest.mark.usefixtures("database")


def start(cwd: Path, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "digest", "daemon"],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def wait_for_lines(
    proc: subprocess.Popen[str], needle: str, count: int, timeout: float
) -> list[str]:
    """Read the daemon's log until `needle` appeared `count` times."""
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    assert proc.stdout is not None
    os.set_blocking(proc.stdout.fileno(), False)
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if line:
            lines.append(line.rstrip("\n"))
            if sum(needle in x for x in lines) >= count:
                return lines
        elif proc.poll() is not None:
            break
        else:
            time.sleep(0.05)
    raise AssertionError(f"{needle!r} not seen {count} times:\n" + "\n".join(lines))


def stop(proc: subprocess.Popen[str]) -> tuple[int, str]:
    proc.send_signal(signal.SIGTERM)
    code = proc.wait(15)
    assert proc.stdout is not None
    os.set_blocking(proc.stdout.fileno(), True)
    return code, proc.stdout.read()


def test_the_daemon_runs_on_schedule_survives_a_run_that_cannot_start_and_stops(
    tmp_path: Path,
) -> None:
    (tmp_path / "subscribers.toml").write_text('[[subscriber]]\nemail = "broken"\n')
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DIGEST_", "SMTP_"))} | {
        "DIGEST_SOURCES": "sample",
        "DIGEST_SCHEDULE": "*/2 * * * * *",
    }
    proc = start(tmp_path, env)
    try:
        lines = wait_for_lines(proc, "run not started", 2, timeout=20)
        assert any("subscriber #1 (broken)" in x for x in lines)
        write_subscribers(tmp_path, 2)  # the operator fixes the file; the daemon goes on
        lines += wait_for_lines(proc, "run 20", 2, timeout=20)
    finally:
        code, rest = stop(proc)
    log = "\n".join(lines) + rest
    assert code == 0, log
    assert "daemon started: schedule '*/2 * * * * *' in UTC" in log
    assert sum(" ok: " in x for x in log.splitlines() if " run 20" in x or "info: run" in x) >= 2
    assert "SIGTERM: stopping" in log and log.rstrip().endswith("daemon stopped")
    assert "Traceback" not in log


def test_sigterm_mid_delivery_finishes_the_message_and_leaves_the_rest_pending(
    tmp_path: Path, hf_api
) -> None:
    today = datetime.now(UTC).date().isoformat()
    hf_api.days[today] = sample_items("2025-06-26")
    emails = write_subscribers(tmp_path, 4)
    with SMTPServer() as smtp:
        smtp.handler.data_delay = 1.0
        env = environment(smtp, tmp_path) | {
            "DIGEST_SOURCES": "huggingface",
            "DIGEST_HF_API_URL": hf_api.api_url,
            "DIGEST_SCHEDULE": "*/2 * * * * *",
            "DIGEST_LOOKBACK_DAYS": "1",
            "SMTP_MAX_CONNECTIONS": "1",  # one message in flight at the signal
        }
        proc = start(tmp_path, env)
        try:
            wait_for_lines(proc, "subscriber(s) to mail", 1, timeout=30)
            deadline = time.monotonic() + 20
            while smtp.handler.datas < 1 and time.monotonic() < deadline:
                time.sleep(0.02)
        finally:
            code, log = stop(proc)
        assert code == 0, log
        assert "left pending for the next run" in log and "Traceback" not in log
        got = len(smtp.received)
        assert 1 <= got < len(emails)  # the message in flight finished; the rest waited

        status = digest(tmp_path, "status", **env)
        assert f"pending messages: {len(emails) - got}" in status.stdout

        smtp.handler.data_delay = 0
        after = digest(tmp_path, "run", **env)
        assert after.returncode == 0, after.stderr
    assert sorted(smtp.handler.count().values()) == [1] * len(emails)
