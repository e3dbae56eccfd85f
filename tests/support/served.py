"""A real `digest serve` process on loopback, and what tests do with its pages and mail."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.support.databases import database_url
from tests.support.net import free_port
from tests.support.smtp import SMTPServer

SECRET = "test-secret-key-0123456789"
CSRF = re.compile(r'name="csrf" value="([^"]+)"')
LINK = re.compile(r"https?://127\.0\.0\.1:\d+/[a-z]+/[A-Za-z0-9_.\-]+")


def env_for(workdir: Path, smtp: SMTPServer, base_url: str, **extra: str) -> dict[str, str]:
    """A shell's environment for `digest` against this workdir and SMTP server."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DIGEST_", "SMTP_"))}
    env.update(
        {
            "DIGEST_DATABASE_URL": database_url(workdir),
            "DIGEST_SUBSCRIBERS": str(workdir / "subscribers.toml"),
            "DIGEST_SOURCES": "sample",
            "DIGEST_SECRET_KEY": SECRET,
            "DIGEST_BASE_URL": base_url,
            **smtp.env(),
            **extra,
        }
    )
    return env


@dataclass
class Served:
    url: str
    process: subprocess.Popen[str]
    env: dict[str, str]
    workdir: Path

    def digest(self, *args: str) -> subprocess.CompletedProcess[str]:
        """Another `digest` command against the same database and relay."""
        return subprocess.run(
            [sys.executable, "-m", "digest", *args],
            cwd=self.workdir,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
        )

    def log(self) -> str:
        return (self.workdir / "serve.log").read_text()


@contextmanager
def served(workdir: Path, smtp: SMTPServer, **extra: str) -> Iterator[Served]:
    """Start `digest serve` on a free port; stop it with SIGTERM on the way out."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = env_for(workdir, smtp, url, **extra)
    (workdir / "subscribers.toml").write_text("")
    with open(workdir / "serve.log", "w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "digest", "serve", "--port", str(port)],
            cwd=workdir,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
        )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                log = (workdir / "serve.log").read_text()
                raise RuntimeError(f"digest serve did not start:\n{log}")
            time.sleep(0.1)
        yield Served(url, proc, env, workdir)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


def links_in(text: str) -> list[str]:
    return LINK.findall(text)


def mail_to(smtp: SMTPServer, email: str) -> list[str]:
    """The plain-text bodies of every message the server received for `email`."""
    out = []
    for r in smtp.received:
        if email in r.rcpt_tos:
            body = r.message.get_body(("plain",))
            out.append(body.get_content() if body else "")
    return out


def wait_for_mail(smtp: SMTPServer, email: str, count: int = 1, timeout: float = 10) -> list[str]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = mail_to(smtp, email)
        if len(got) >= count:
            return got
        time.sleep(0.05)
    raise AssertionError(f"expected {count} message(s) to {email}, got {len(mail_to(smtp, email))}")


class Client:
    """A browser without a browser: keeps cookies, reads CSRF tokens off the forms."""

    def __init__(self, base: str, forwarded_for: str | None = None) -> None:
        headers = {"X-Forwarded-For": forwarded_for} if forwarded_for else {}
        self.http = httpx.Client(base_url=base, headers=headers, follow_redirects=False)

    def csrf(self, path: str) -> str:
        page = self.http.get(path)
        assert page.status_code == 200, (page.status_code, page.text)
        m = CSRF.search(page.text)
        assert m, page.text
        return m.group(1)

    def subscribe(self, email: str, keywords: str = "world model", **fields: str) -> httpx.Response:
        data = {"csrf": self.csrf("/"), "email": email, "keywords": keywords, **fields}
        return self.http.post("/", data=data)

    def submit(self, path: str, **fields: str) -> httpx.Response:
        return self.http.post(path, data={"csrf": self.csrf(path), **fields})
