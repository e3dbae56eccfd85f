"""Real HTTP servers on loopback: the Hugging Face Daily Papers API and arXiv's announcement
feeds, answering from what a test put in them, or from a script of answers."""

from __future__ import annotations

import hashlib
import json
import threading
import time
from dataclasses import dataclass, field
from datetime import date, datetime
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.support import feeds
from tests.support.net import free_port


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


class FakeArxivAPI(LoopbackHTTP):
    """arXiv's export API on loopback: `/api/query?id_list=a,b` answers an Atom feed with
    an entry for each id in `papers`, and, as arXiv does for an id it does not know, an
    entry without id or title for each other."""

    content_type = "application/atom+xml; charset=utf-8"

    def __init__(self) -> None:
        super().__init__()
        self.papers: dict[str, feeds.Item] = {}

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/query"

    @property
    def asked(self) -> list[str]:
        """Every id asked for, request after request."""
        return [
            i
            for _, path, q in self.requests
            if path == "/api/query"
            for i in q["id_list"].split(",")
        ]

    def answer(self, path: str, query: dict[str, str], headers: dict[str, str]) -> Scripted:
        if path != "/api/query" or not query.get("id_list"):
            return Scripted(400, b"bad request")
        ids = query["id_list"].split(",")
        return Scripted(200, feeds.api_answer([self.papers.get(i) or i for i in ids]))
