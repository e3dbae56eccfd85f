"""Real parts for tests: an SMTP server (aiosmtpd), an HTTP server for the API, SQLite files."""

from __future__ import annotations

import asyncio
import hashlib
import json
import socket
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

from digest.config import Settings, load_settings

from . import feeds

DATA = Path(__file__).resolve().parent.parent / "digest" / "sample"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def hf_item(pid: str, title: str, summary: str = "", **paper: Any) -> dict[str, Any]:
    """An item in the Hugging Face Daily Papers shape (see shared/data/hf-item-example.json)."""
    body = {
        "id": pid,
        "authors": [],
        "publishedAt": "2025-11-06T09:00:00.000Z",
        "submittedOnDailyAt": "2025-11-06T10:00:00.000Z",
        "title": title,
        "summary": summary,
        "upvotes": 0,
        "ai_summary": "",
        "ai_keywords": [],
    }
    body.update(paper)
    return {
        "paper": body,
        "title": title,
        "summary": summary,
        "publishedAt": body["publishedAt"],
        "numComments": 0,
        "isAuthorParticipating": False,
    }


def sample_items(day: str) -> list[dict[str, Any]]:
    return json.loads((DATA / f"{day}.json").read_text())


# --- SMTP ---------------------------------------------------------------------------------


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    raw: bytes

    @property
    def message(self) -> EmailMessage:
        return message_from_bytes(self.raw, policy=policy.default)  # type: ignore[return-value]


@dataclass
class SMTPHandler:
    """Accepts and keeps every message, unless told otherwise.

    `faults[rcpt]` lists what the server does on that recipient's successive attempts:
    an SMTP answer ("451 4.3.0 later") refuses at RCPT; "data 554 ..." refuses after DATA;
    "drop" closes the connection mid-DATA; "stall" says nothing until the client times out;
    "ok" (or a list run out) accepts. `on_mail(n, server)` runs at the n-th MAIL FROM and
    `on_data(n, server)` at the n-th DATA (`server` is the session's aiosmtpd SMTP instance).
    """

    received: list[Received] = field(default_factory=list)
    refuse_rcpt: dict[str, str] = field(default_factory=dict)
    faults: dict[str, list[str]] = field(default_factory=dict)
    attempts: Counter[str] = field(default_factory=Counter)
    peers: set[tuple[str, int]] = field(default_factory=set)
    refuse_mail: str | None = None
    on_mail: Callable[[int, Any], None] | None = None
    on_data: Callable[[int, Any], None] | None = None
    data_delay: float = 0.0
    mails: int = 0
    datas: int = 0
    accepted_at: list[float] = field(default_factory=list)  # monotonic time of each acceptance
    per_connection: Counter[tuple[str, int]] = field(default_factory=Counter)
    open: int = 0  # connections open now, and the most ever open at once
    most_open: int = 0

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        self.peers.add(tuple(session.peer))  # one client address and port per connection
        session.host_name = hostname  # aiosmtpd leaves this to a handler that hooks EHLO
        return responses

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        self.mails += 1
        if self.on_mail:
            self.on_mail(self.mails, server)
        if self.refuse_mail:
            return self.refuse_mail
        envelope.mail_from = address
        return "250 OK"

    def _fault(self, envelope) -> str:
        (rcpt,) = envelope.rcpt_tos or ["?"]
        script = self.faults.get(rcpt, [])
        n = self.attempts[rcpt] - 1
        return script[n] if 0 <= n < len(script) else "ok"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.refuse_rcpt:
            return self.refuse_rcpt[address]
        self.attempts[address] += 1
        script = self.faults.get(address, [])
        fault = script[self.attempts[address] - 1] if self.attempts[address] <= len(script) else ""
        if fault[:1].isdigit():
            return fault
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.datas += 1
        if self.on_data:
            self.on_data(self.datas, server)
        if self.data_delay:
            await asyncio.sleep(self.data_delay)
        fault = self._fault(envelope)
        if fault == "drop":
            server.transport.close()
            return "421 closing"
        if fault == "stall":
            await asyncio.sleep(3)
            return "451 too late"
        if fault.startswith("data "):
            return fault[5:]
        self.received.append(
            Received(envelope.mail_from, list(envelope.rcpt_tos), envelope.content)
        )
        self.accepted_at.append(time.monotonic())
        self.per_connection[tuple(session.peer)] += 1
        return "250 Message accepted for delivery"

    def count(self) -> Counter[str]:
        """Accepted copies per recipient."""
        return Counter(r for m in self.received for r in m.rcpt_tos)


class CountingSMTP(SMTP):
    """aiosmtpd's session, counting the connections open at once."""

    def connection_made(self, transport: Any) -> None:
        self.event_handler.open += 1
        self.event_handler.most_open = max(self.event_handler.most_open, self.event_handler.open)
        super().connection_made(transport)

    def connection_lost(self, exc: Exception | None) -> None:
        self.event_handler.open -= 1
        super().connection_lost(exc)


class CountingController(Controller):
    def factory(self) -> SMTP:
        return CountingSMTP(self.handler, **self.SMTP_kwargs)


class SMTPServer:
    def __init__(self, **kwargs: Any) -> None:
        self.handler = SMTPHandler()
        self.port = free_port()
        self.controller = CountingController(
            self.handler, hostname="127.0.0.1", port=self.port, **kwargs
        )

    @property
    def received(self) -> list[Received]:
        return self.handler.received

    def env(self, **extra: str) -> dict[str, str]:
        """Settings that send through this server, in plain text, retrying without delay."""
        return {
            "DIGEST_EMAIL_BACKEND": "smtp",
            "SMTP_HOST": "127.0.0.1",
            "SMTP_PORT": str(self.port),
            "SMTP_SECURITY": "none",
            "SMTP_RETRY_DELAY": "0.01",
            **extra,
        }

    def __enter__(self) -> SMTPServer:
        self.controller.start()
        self.handler.most_open = 0  # the controller's own check that it is up
        return self

    def __exit__(self, *exc: object) -> None:
        self.controller.stop()


@pytest.fixture
def smtp_server() -> Iterator[SMTPServer]:
    with SMTPServer() as server:
        yield server


@pytest.fixture(scope="session")
def tls_cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1, made with the openssl command line."""
    d = tmp_path_factory.mktemp("tls")
    cert, key = d / "cert.pem", d / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=IP:127.0.0.1,DNS:localhost",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


def authenticator(user: str, password: str) -> Callable[..., AuthResult]:
    def check(server, session, envelope, mechanism, auth_data):
        ok = isinstance(auth_data, LoginPassword) and (
            auth_data.login.decode() == user and auth_data.password.decode() == password
        )
        return AuthResult(success=ok, handled=False)

    return check


# --- HTTP: the Hugging Face Daily Papers API on loopback -----------------------------------


@dataclass
class Scripted:
    status: int = 200
    body: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


class LoopbackHTTP:
    """A real HTTP server on loopback: `script` answers come first, one per request, then
    `answer(path, query, headers)`. Each request is logged with its time and headers."""

    content_type = "application/json"

    def __init__(self) -> None:
        self.script: list[Scripted] = []
        self.requests: list[tuple[float, str, dict[str, str]]] = []
        self.headers: list[dict[str, str]] = []
        self.statuses: list[int] = []
        self.port = free_port()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                url = urlsplit(self.path)
                query = {k: v[0] for k, v in parse_qs(url.query).items()}
                headers = {k.lower(): v for k, v in self.headers.items()}
                fake.requests.append((time.monotonic(), url.path, query))
                fake.headers.append(headers)
                answer = (
                    fake.script.pop(0) if fake.script else fake.answer(url.path, query, headers)
                )
                fake.statuses.append(answer.status)
                if answer.delay:
                    time.sleep(answer.delay)
                body = answer.body or b""
                try:
                    self.send_response(answer.status)
                    for k, v in {"Content-Type": fake.content_type, **answer.headers}.items():
                        self.send_header(k, v)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def answer(self, path: str, query: dict[str, str], headers: dict[str, str]) -> Scripted:
        raise NotImplementedError

    def __enter__(self) -> Any:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


class FakeHF(LoopbackHTTP):
    """Serves `days[date]` with limit/p paging, as the Daily Papers API does."""

    def __init__(self) -> None:
        super().__init__()
        self.days: dict[str, list[dict[str, Any]]] = {}

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api"

    def answer(self, path: str, query: dict[str, str], headers: dict[str, str]) -> Scripted:
        if path != "/api/daily_papers":
            return Scripted(404, b'{"error":"not found"}')
        day = query.get("date", "")
        if len(day) != 10:
            return Scripted(400, b'{"error":"Invalid date"}')
        limit, page = int(query.get("limit", "50")), int(query.get("p", "0"))
        items = self.days.get(day, [])[page * limit : (page + 1) * limit]
        return Scripted(200, json.dumps(items).encode())


class FakeArxiv(LoopbackHTTP):
    """rss.arxiv.org on loopback: `/rss/<cats>` and `/atom/<cats>` (cats joined by +) serve the
    announcement of `day`: the `items` in any of those categories. An unknown category gets
    arXiv's error document. ETag and Last-Modified are sent, and honoured with a 304."""

    content_type = "application/rss+xml; charset=utf-8"
    KNOWN = frozenset({"cs.LG", "cs.AI", "cs.RO", "cs.CV", "cs.CL", "stat.ML"})

    def __init__(self, day: date) -> None:
        super().__init__()
        self.day = day
        self.items: list[feeds.Item] = []
        self.built_at: datetime | None = None  # None: built on `day`, as arXiv does

    @property
    def rss_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/rss"

    @property
    def atom_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/atom"

    def answer(self, path: str, query: dict[str, str], headers: dict[str, str]) -> Scripted:
        kind, _, cats = path.strip("/").partition("/")
        if kind not in ("rss", "atom") or not cats:
            return Scripted(404, b"not found")
        wanted = cats.split("+")
        if not set(wanted) <= self.KNOWN:
            return Scripted(200, feeds.feed_error(cats))
        items = [i for i in self.items if set(i.categories) & set(wanted)]
        build = feeds.rss if kind == "rss" else feeds.atom
        body = build(cats, self.day, items, self.built_at)
        etag = '"' + hashlib.sha1(body).hexdigest()[:16] + '"'
        modified = format_datetime(self.built_at or feeds.built(self.day), usegmt=True)
        validators = {"ETag": etag, "Last-Modified": modified}
        if headers.get("if-none-match") == etag or (
            "if-none-match" not in headers and headers.get("if-modified-since") == modified
        ):
            return Scripted(304, b"", validators)
        return Scripted(200, body, validators)


@pytest.fixture
def hf_api() -> Iterator[FakeHF]:
    with FakeHF() as server:
        yield server


ANNOUNCED = date(2025, 11, 6)  # a Thursday


@pytest.fixture
def arxiv_feed() -> Iterator[FakeArxiv]:
    with FakeArxiv(ANNOUNCED) as server:
        yield server


# --- Settings and files --------------------------------------------------------------------

SUBSCRIBERS = """
[[subscriber]]
email = "ada@example.org"
name = "Ada Lovelace"
keywords = ["world model", "reinforcement learning", { term = "robot", weight = 2.0 }]
exclude = ["survey"]
max_papers = 5

[[subscriber]]
email = "grace@example.org"
keywords = ["diffusion", "video generation"]
"""


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    (tmp_path / "subscribers.toml").write_text(SUBSCRIBERS)
    return tmp_path


def make_settings(workdir: Path, **env: str) -> Settings:
    base = {
        "DIGEST_DATABASE_URL": f"sqlite:///{workdir / 'digest.db'}",
        "DIGEST_SUBSCRIBERS": str(workdir / "subscribers.toml"),
        "DIGEST_OUTBOX_DIR": str(workdir / "outbox"),
        "DIGEST_SOURCES": "sample",
        "SMTP_RETRY_DELAY": "0.01",
        "SMTP_TIMEOUT": "1",
    }
    base.update(env)
    return load_settings(base, dotenv_path=None)
