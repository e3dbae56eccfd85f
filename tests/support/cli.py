"""`digest` as an operator's shell runs it, in a subprocess, and the files and environment
such runs are given."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.support.databases import database_env
from tests.support.smtp import SMTPServer

ROOT = Path(__file__).resolve().parents[2]  # the source tree


def python(cwd: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """Python as an operator's shell runs it: no DIGEST_/SMTP_ settings but those given."""
    return subprocess.run(
        [sys.executable, *args],
        cwd=cwd,
        env=environment_for(cwd, **env),
        capture_output=True,
        text=True,
        timeout=300,
    )


def environment_for(cwd: Path, **env: str) -> dict[str, str]:
    """The environment `python` gives a process in `cwd`."""
    full = {k: v for k, v in os.environ.items() if not k.startswith(("DIGEST_", "SMTP_"))}
    full.update(
        {"DIGEST_SOURCES": "sample", "DIGEST_EMAIL_BACKEND": "file", **database_env(cwd), **env}
    )
    return full


def digest(cwd: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return python(cwd, "-m", "digest", *args, **env)


DAY = "2025-06-26"
TOPICS = ["language model", "diffusion", "reinforcement learning", "video", "reasoning", "agent"]


def write_subscribers(cwd: Path, n: int) -> list[str]:
    emails = [f"reader{i}@example.org" for i in range(n)]
    (cwd / "subscribers.toml").write_text(
        "".join(
            f'[[subscriber]]\nemail = "{e}"\nkeywords = ["{TOPICS[i % len(TOPICS)]}"]\n\n'
            for i, e in enumerate(emails)
        )
    )
    return emails


def environment(smtp: SMTPServer, cwd: Path, **extra: str) -> dict[str, str]:
    """A shell's environment for `digest` in `cwd` against `smtp`, on the test's database."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DIGEST_", "SMTP_"))}
    return {**env, **smtp.env(DIGEST_SOURCES="sample"), **database_env(cwd), **extra}
