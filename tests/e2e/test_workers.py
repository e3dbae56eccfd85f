"""Several workers on one outbox, as real processes against a real SMTP server: two runs and a
`digest send` at once, one run killed with SIGKILL mid-way, the relay deferring, dropping and
refusing. Counted at the server: every subscriber gets their digest under one Message-ID,
and a second copy only inside the documented window."""

from __future__ import annotations

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


def start(cwd: Path, smtp: SMTPServer, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "digest", *args],
        cwd=cwd,
        env=environment(smtp, cwd, SMTP_MAX_CONNECTIONS=str(LANES), SMTP_RETRIES="2"),
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
        assert all(shares), shares  # the second run and `digest send` both sent some
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
