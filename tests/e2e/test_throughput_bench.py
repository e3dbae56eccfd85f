"""The throughput benchmark's small run, as a process: every message delivered once."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.support.cli import ROOT


def test_the_throughput_benchmark_delivers_every_message_once(tmp_path: Path) -> None:
    """The benchmark's small run, as CI runs it: correctness only, never timing."""
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "throughput.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "check: every message accepted exactly once" in done.stdout
    assert "PROBLEM" not in done.stdout
