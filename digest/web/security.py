"""What every page shares to stay safe: headers that allow no scripts and no framing, posted
bodies read only when small, rate windows, and CSRF tokens signed over a cookie and the form's
subject."""

from __future__ import annotations

import ipaddress
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response

from ..errors import BadToken
from ..subscriptions.links import Signer

MAX_BODY = 32 * 1024
CSRF_COOKIE = "digest_csrf"
# Subscribe-form posts per client address, and mails it may cause per client network (the
# whole app's are DIGEST_SIGNUP_MAILS_PER_HOUR): one flood uses up its own network's ration,
# not everyone's.
PER_CLIENT = (10, 600.0)
PER_NETWORK = (20, 3600.0)

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
        "frame-src 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",  # the URL holds a token: never hand it to another site
    "Cache-Control": "no-store",
}


async def secure(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
    """Middleware: the security headers on every response."""
    response = await call_next(request)
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    return response


async def read_form(request: Request) -> FormData | None:
    """The posted form, or None when it is too large to be one of ours: refused unread when
    it says so up front, and read no further than MAX_BODY when it does not (a chunked
    body), so a large post never sits in memory."""
    length = request.headers.get("content-length")
    if length is not None and (
        not (length.isascii() and length.isdigit()) or len(length) > 9 or int(length) > MAX_BODY
    ):
        return None
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
            return None
        chunks.append(chunk)
    request._body = b"".join(chunks)  # what Starlette's form parser then reads
    return await request.form(max_files=0, max_fields=50, max_part_size=MAX_BODY)


def field(form: FormData, name: str) -> str:
    """A text field of the form ("" when missing or a file)."""
    value = form.get(name, "")
    return value.replace("\x00", "") if isinstance(value, str) else ""  # no text holds a NUL


class Window:
    """At most `limit` events per `seconds` per key, in memory (a restart forgets)."""

    def __init__(self, limit: int, seconds: float) -> None:
        self.limit, self.seconds = limit, seconds
        self.events: dict[str, deque[float]] = {}
        self.lock = threading.Lock()

    def allow(self, key: str) -> float:
        """0 if allowed (and counted), else seconds until it would be."""
        now = time.monotonic()
        with self.lock:
            if len(self.events) > 10_000:  # forget idle keys rather than grow without bound
                for k in [k for k, q in self.events.items() if now - q[-1] > self.seconds]:
                    del self.events[k]
            q = self.events.setdefault(key, deque())
            while q and now - q[0] > self.seconds:
                q.popleft()
            if len(q) >= self.limit:
                return max(self.seconds - (now - q[0]), 1e-6)
            q.append(now)
            return 0.0

    def release(self, key: str) -> None:
        """Take back the latest event counted for `key` (what it was for did not happen)."""
        with self.lock:
            q = self.events.get(key)
            if q:
                q.pop()

    def wait(self, key: str) -> float:
        """What `allow(key)` would answer now, nothing counted."""
        now = time.monotonic()
        with self.lock:
            q = [t for t in self.events.get(key, ()) if now - t <= self.seconds]
            return max(self.seconds - (now - q[0]), 1e-6) if len(q) >= self.limit else 0.0

    def full(self, key: str) -> bool:
        return self.wait(key) > 0


def network(host: str) -> str:
    """The network a client address is one of: a /24 for IPv4, a /64 for IPv6 (what one
    household, office or cloud machine is usually given)."""
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return host
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    bits = 24 if ip.version == 4 else 64
    return str(ipaddress.ip_network(f"{ip}/{bits}", strict=False))


def origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


class Csrf:
    """Form tokens signed over the browser's cookie and what the form is for (its scope: the
    subscribe form, or one subscriber's form of one purpose), so one subscriber's token is
    worthless on another's page; and a browser that says where a post came from must say it
    came from here."""

    def __init__(self, signer: Signer, public_base: str) -> None:
        self.signer = signer
        self.public_base = public_base

    def token(self, cookie: str, scope: str) -> str:
        return self.signer.make("csrf", cookie, scope)

    def ok(self, request: Request, form: FormData, scope: str) -> bool:
        sender = request.headers.get("origin")
        if sender and sender != "null" and not self.same_origin(request, sender):
            return False
        cookie = request.cookies.get(CSRF_COOKIE)
        token = form.get("csrf")
        if not cookie or not isinstance(token, str):
            return False
        try:
            payload, _ = self.signer.read("csrf", token)
        except BadToken:
            return False
        return payload == [cookie, scope]

    def same_origin(self, request: Request, sender: str) -> bool:
        mine = {origin(self.public_base), origin(str(request.base_url))}
        return origin(sender) in mine
