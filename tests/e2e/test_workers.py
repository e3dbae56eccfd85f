"""Several workers on one outbox, as real processes against a real SMTP server: two runs and a
`digest send` at once, one run killed with SIGKILL mid-way, the relay deferring, dropping and
refusing. Counted at the server: every subscriber gets their digest under one Message-ID,
and a second copy only inside the documented window."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

import pytest

from tests.support.cli import DAY, environment, write_subscribers
from tests.support.smtp import SMTPServer

# Every test here runs on SQLite and on PostgreSQL (`database` in conftest.py).
pytestmark = pytest.mark.usefixtures("database")

LANES = 2


def start(cwd: Path, smtp: SMTPServer, *args: str, **env: str) -> subprocess.Popen[str]:
    relay = {"SMTP_MAX_CONNECTIONS": str(LANES), "SMTP_RETRIES": "2", **env}
    return subprocess.Popen(
        [sys.executable, "-m", "digest", *args],
        cwd=cwd,
        env=environment(smtp, cwd, **relay),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for(smtp: SMTPServer, accepted: int) -> None:
    deadline = time.monotonic() + 60
    while len(smtp.received) < accepted and time.monotonic() < deadline:
        time.sleep(0.01)


def test_a_killed_worker_among_others_loses_nothing_and_doubles_nothing(tmp_path: Path) -> None:
    emails = write_subscribers(tmp_path, 240)
    deferred, dropped, refused = emails[7], emails[30], emails[41]
    with SMTPServer() as smtp:
        smtp.handler.data_delay = 0.01
        smtp.handler.faults[deferred] = ["451 4.3.0 try later", "451 4.3.0 try later"]
        smtp.handler.faults[dropped] = ["drop"]
        smtp.handler.faults[refused] = ["550 5.1.1 no such user"] * 9
        victim = start(tmp_path, smtp, "run", "--date", DAY)
        wait_for(smtp, 5)  # deciding and sending
        others = [start(tmp_path, smtp, "run", "--date", DAY), start(tmp_path, smtp, "send")]
        wait_for(smtp, 40)
        victim.kill()
        victim.communicate()
        shares = []
        for proc in others:
            out, err = proc.communicate(timeout=180)
            assert "Traceback" not in err, err
            shares.append(int(out.split(" sent")[0].rsplit(" ", 1)[-1]))
        # the relay's connections are shared by every process: while the first run held
        # both, the others composed or waited; once it was killed, they sent the rest
        assert sum(shares) > 0, shares
        last = start(tmp_path, smtp, "run", "--date", DAY)  # whatever the dead one held
        _, err = last.communicate(timeout=180)
        assert "Traceback" not in err, err

        ids: dict[str, list[str]] = defaultdict(list)
        for r in smtp.received:
            (to,) = r.rcpt_tos
            ids[to].append(r.message["Message-ID"])
    assert set(ids) == set(emails) - {refused}
    assert all(len(set(got)) == 1 for got in ids.values())  # one Message-ID each
    twice = [e for e, got in ids.items() if len(got) > 1]
    assert len(twice) <= LANES and all(len(ids[e]) == 2 for e in twice), twice


def helpers_of(pid: int) -> list[int]:
    """The helper processes a run started (`digest.jobs.helper`)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        if parent == pid and b"digest.jobs.helper" in cmdline:
            found.append(int(entry.name))
    return found


def test_a_run_over_three_workers_mails_everyone_once_and_counts_them_all(
    tmp_path: Path,
) -> None:
    emails = write_subscribers(tmp_path, 150)
    with SMTPServer() as smtp:
        smtp.handler.data_delay = 0.005
        proc = start(tmp_path, smtp, "run", "--date", DAY, "--workers", "3")
        out, err = proc.communicate(timeout=180)
    assert proc.returncode == 0, err
    assert "Fatal" not in err and "Traceback" not in err, err
    assert "3 worker processes decide, compose and send" in err
    assert "150 of 150 subscribers had new papers; 150 sent, 0 failed" in out
    assert "mailing: 150/150" in err  # the one progress count holds every worker's messages
    assert smtp.handler.count() == dict.fromkeys(emails, 1)
    assert smtp.handler.most_open <= LANES


def test_a_killed_helper_fails_the_run_and_the_next_run_sends_its_part(tmp_path: Path) -> None:
    emails = write_subscribers(tmp_path, 200)
    with SMTPServer() as smtp:
        smtp.handler.data_delay = 0.02
        run = start(tmp_path, smtp, "run", "--date", DAY, "--workers", "2")
        deadline = time.monotonic() + 60
        while not (helpers := helpers_of(run.pid)) and time.monotonic() < deadline:
            time.sleep(0.01)
        wait_for(smtp, 10)
        for pid in helpers:
            os.kill(pid, signal.SIGKILL)
        out, err = run.communicate(timeout=180)
        assert run.returncode == 1, (out, err)
        assert "worker 2 ended without finishing its part" in err
        assert "1 worker(s) failed" in out and "Traceback" not in err
        again = start(tmp_path, smtp, "run", "--date", DAY)
        out, err = again.communicate(timeout=180)
        assert again.returncode == 0, err
        ids: dict[str, list[str]] = defaultdict(list)
        for r in smtp.received:
            (to,) = r.rcpt_tos
            ids[to].append(r.message["Message-ID"])
    assert set(ids) == set(emails)
    assert all(len(set(got)) == 1 for got in ids.values())
    twice = [e for e, got in ids.items() if len(got) > 1]
    assert len(twice) <= LANES, twice  # only what the killed helper had in flight


def test_the_relays_limits_hold_for_every_process_of_every_run_together(tmp_path: Path) -> None:
    """A run of two worker processes and two `digest send` (as on other hosts), all at once:
    the relay never sees more than SMTP_MAX_CONNECTIONS connections, nor more than
    SMTP_RATE_LIMIT messages in any second, and everyone gets one digest."""
    emails = write_subscribers(tmp_path, 120)
    relay = {"SMTP_MAX_CONNECTIONS": "3", "SMTP_RATE_LIMIT": "20"}
    with SMTPServer() as smtp:
        smtp.handler.data_delay = 0.02
        procs = [start(tmp_path, smtp, "run", "--date", DAY, "--workers", "2", **relay)]
        wait_for(smtp, 3)
        procs += [start(tmp_path, smtp, "send", **relay) for _ in range(2)]
        for proc in procs:
            out, err = proc.communicate(timeout=180)
            assert proc.returncode == 0, (out, err)
            assert "Traceback" not in err, err
        assert smtp.handler.count() == dict.fromkeys(emails, 1)
        assert smtp.handler.most_open <= 3
        at = sorted(smtp.handler.accepted_at)
        closest = min(b - a for a, b in zip(at, at[20:], strict=False))
        assert closest >= 1.0, f"21 messages within {closest:.3f} s"
