"""`digest serve`: the subscriber's side, a small Starlette app.

A subscribe page with double opt-in, a preferences page, and unsubscribe (RFC 8058 one-click
for mail clients, a page with an undo for people). Every link that acts for a subscriber is
signed (tokens.py) and names them by a random id; every form carries a CSRF token bound to a
cookie and to what the form is for. Nothing here keeps a session.
"""

from __future__ import annotations

import logging
import re
import secrets
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from jinja2 import Environment
from sqlalchemy import Engine
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from . import roster, store
from .compose import make_environment
from .config import ConfigError, Settings
from .deliver import DeliveryError, Refused
from .models import Keyword, Subscriber, one_line
from .notices import compose_notice, send_notice
from .roster import Member
from .subscribers import MAX_PAPERS_LIMIT, parse_entry
from .tokens import BadToken, Links, Signer

log = logging.getLogger("digest.web")

MAX_BODY = 32 * 1024
CSRF_COOKIE = "digest_csrf"
# Subscribe-form posts per client address, and confirmation mails for the whole app.
PER_CLIENT = (10, 600.0)
CONFIRMATIONS_PER_HOUR = 100
POPULAR_TTL = 600.0
HINT = ["world model", "offline RL", "diffusion policy", "LLM agent", "state space model"]

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",  # the URL holds a token: never hand it to another site
    "Cache-Control": "no-store",
}


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
                return self.seconds - (now - q[0])
            q.append(now)
            return 0.0


@dataclass
class App:
    settings: Settings
    engine: Engine
    signer: Signer
    links: Links
    env: Environment
    per_client: Window
    confirmations: Window
    _popular: tuple[float, list[str]] = (float("-inf"), [])

    def popular(self) -> list[str]:
        """The form's "popular in recent papers" hint, read from the store at most every
        POPULAR_TTL seconds rather than on every page view."""
        stamp, words = self._popular
        if time.monotonic() - stamp > POPULAR_TTL:
            with self.engine.connect() as conn:
                words = roster.popular_keywords(conn)
            self._popular = (time.monotonic(), words)
        return words

    # --- responses ------------------------------------------------------------------------

    def page(self, request: Request, name: str, status: int = 200, **ctx: Any) -> HTMLResponse:
        """Render a page; forms on it get a CSRF token for `ctx['scope']`."""
        cookie = request.cookies.get(CSRF_COOKIE) or secrets.token_urlsafe(18)
        scope = ctx.get("scope")
        html = self.env.get_template(f"web/{name}.html.j2").render(
            csrf=self.signer.make("csrf", cookie, scope) if scope else "",
            subscribe_url="/",
            **ctx,
        )
        response = HTMLResponse(html, status_code=status)
        if CSRF_COOKIE not in request.cookies:
            response.set_cookie(
                CSRF_COOKIE,
                cookie,
                httponly=True,
                samesite="strict",
                secure=self.links.base.startswith("https://"),
                path="/",
            )
        return response

    def say(self, request: Request, title: str, text: str, **link: str) -> HTMLResponse:
        """A page of one message, and an optional `link` with its `link_text`."""
        return self.page(request, "message", title=title, text=text, **link)

    def refused(self, request: Request, why: str, status: int = 403) -> HTMLResponse:
        return self.page(request, "message", status, title="That did not work", text=why)

    # --- checks ---------------------------------------------------------------------------

    def member(self, purpose: str, token: str) -> tuple[Member, list[Any], datetime]:
        payload, issued = self.signer.read(purpose, token)
        uid = payload[0]
        if not isinstance(uid, str):
            raise BadToken("this link is not valid")
        with self.engine.connect() as conn:
            found = roster.by_uid(conn, uid)
        if found is None:
            raise BadToken("this subscription no longer exists")
        return found, payload, issued

    def authorized(
        self, request: Request, form: FormData, purpose: str
    ) -> tuple[Member, list[Any], datetime] | Response:
        """The subscriber a posted form acts for: its link's token and its CSRF token must
        both hold, for this purpose and this subscriber. Else the page that says why."""
        try:
            member, payload, issued = self.member(purpose, request.path_params["token"])
        except BadToken as exc:
            return self.refused(request, f"{str(exc).capitalize()}.")
        if not self.csrf_ok(request, form, f"{purpose}:{member.uid}"):
            return self.refused(request, "This form has expired. Please load the page again.")
        return member, payload, issued

    def csrf_ok(self, request: Request, form: FormData, scope: str) -> bool:
        """The form's token was made for this cookie and this purpose, and a browser that
        says where the form came from says it came from here."""
        origin = request.headers.get("origin")
        if origin and origin != "null" and not self.same_origin(request, origin):
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

    def same_origin(self, request: Request, origin: str) -> bool:
        mine = {_origin(self.links.base), _origin(str(request.base_url))}
        return _origin(origin) in mine


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


async def _form(request: Request) -> FormData | None:
    """The posted form, or None when it is too large to be one of ours."""
    length = request.headers.get("content-length")
    if length is not None and (not length.isdigit() or int(length) > MAX_BODY):
        return None
    body = await request.body()
    if len(body) > MAX_BODY:
        return None
    return await request.form(max_files=0, max_fields=50, max_part_size=MAX_BODY)


def _lines(text: str) -> list[str]:
    return [t for t in (one_line(x) for x in re.split(r"[\n,;]", text)) if t]


_BOOST = re.compile(r"^(.*?)\s*\^\s*([0-9]+(?:\.[0-9]+)?)$")


def keywords_from(text: str, before: tuple[Keyword, ...] = ()) -> list[Any]:
    """The keyword box: one per line (or comma), "term ^2" to weigh it double. A term kept
    from before keeps its own synonyms."""
    synonyms = {k.term.casefold(): k.synonyms for k in before}
    out: list[Any] = []
    for line in _lines(text):
        m = _BOOST.match(line)
        term, weight = (m.group(1), float(m.group(2))) if m else (line, 1.0)
        syn = synonyms.get(term.casefold(), ())
        if weight == 1.0 and not syn:
            out.append(term)
        else:
            out.append({"term": term, "weight": weight, "synonyms": list(syn)})
    return out


def keywords_text(sub: Subscriber) -> str:
    return "\n".join(k.term if k.weight == 1.0 else f"{k.term} ^{k.weight:g}" for k in sub.keywords)


def _field(form: FormData, name: str) -> str:
    value = form.get(name, "")
    return value if isinstance(value, str) else ""


def build_app(settings: Settings, base_url: str) -> Starlette:
    if not settings.secret_key:
        raise ConfigError(
            "DIGEST_SECRET_KEY is not set: `digest serve` signs every link with it (make one "
            "with: python -c 'import secrets; print(secrets.token_urlsafe(32))')"
        )
    engine = store.open_engine(settings.database_url)
    signer = Signer(settings.secret_key)
    app = App(
        settings=settings,
        engine=engine,
        signer=signer,
        links=Links(base_url, signer),
        env=make_environment(settings.templates_dir),
        per_client=Window(*PER_CLIENT),
        confirmations=Window(CONFIRMATIONS_PER_HOUR, 3600.0),
    )

    async def subscribe_form(request: Request) -> Response:
        return await run_in_threadpool(_subscribe_page, request, {}, None, 200)

    blank = dict.fromkeys(("email", "name", "keywords", "frequency"), "")

    def _subscribe_page(
        request: Request, values: dict[str, str], error: str | None, status: int
    ) -> Response:
        popular = app.popular()
        return app.page(
            request,
            "subscribe",
            status,
            scope="subscribe",
            values={**blank, **values},
            error=error,
            hint=HINT,
            popular=popular,
        )

    async def subscribe(request: Request) -> Response:
        client = request.client.host if request.client else "?"
        wait = app.per_client.allow(client)
        if wait:
            response = app.refused(
                request, "Too many requests from your address. Please try again later.", 429
            )
            response.headers["Retry-After"] = str(int(wait) + 1)
            return response
        form = await _form(request)
        if form is None:
            return PlainTextResponse("request too large", 413)
        if not app.csrf_ok(request, form, "subscribe"):
            return app.refused(request, "This form has expired. Please load the page again.")
        values = {k: _field(form, k) for k in ("email", "name", "keywords", "frequency")}
        entry: dict[str, Any] = {
            "email": values["email"],
            "keywords": keywords_from(values["keywords"]),
            "frequency": values["frequency"] or "daily",
        }
        if values["name"].strip():
            entry["name"] = values["name"]
        try:
            sub = parse_entry(entry)
        except ValueError as exc:
            return await run_in_threadpool(_subscribe_page, request, values, _say(exc), 400)
        return await run_in_threadpool(_request, request, sub)

    def _request(request: Request, sub: Subscriber) -> Response:
        with engine.begin() as conn:
            outcome = roster.request(conn, sub)
        if outcome is not None:
            kind, member = outcome
            if kind == "confirm" and app.confirmations.allow("all"):
                with engine.begin() as conn:
                    roster.forget_notice(conn, member.email)
                log.warning("confirmation mails at their hourly limit; refused one")
                return app.refused(
                    request, "Too many sign-ups right now. Please try again in an hour.", 503
                )
            try:
                notice = compose_notice(settings, app.env, app.links, kind, member.subscriber)
                send_notice(settings, notice)
            except (Refused, DeliveryError) as exc:
                with engine.begin() as conn:
                    roster.forget_notice(conn, member.email)
                log.error(f"could not mail {member.email}: {exc}")
                return app.refused(
                    request,
                    "We could not send you the email just now. Please try again in a few minutes.",
                    503,
                )
            log.info(f"{kind} mail sent to {member.email}")
        # The same answer whatever the address's state: the page reveals nobody.
        return app.say(
            request,
            title="Check your inbox",
            text=(
                f"If {sub.email} can get Paper Digest, an email is on its way there with a link "
                "to confirm. Nothing is sent until you follow it."
            ),
        )

    def _confirm_page(request: Request) -> Response:
        token = request.path_params["token"]
        try:
            member, _, _ = app.member("confirm", token)
        except BadToken as exc:
            return app.refused(
                request, f"{str(exc).capitalize()}. Subscribe again to get a fresh one."
            )
        if member.status == roster.ACTIVE:
            return app.say(
                request,
                title="You are subscribed",
                text=f"{member.email} already gets Paper Digest.",
            )
        return app.page(
            request,
            "confirm",
            scope=f"confirm:{member.uid}",
            member=member,
            keywords=[k.term for k in member.subscriber.keywords],
        )

    def _confirm(request: Request, form: FormData) -> Response:
        acting = app.authorized(request, form, "confirm")
        if isinstance(acting, Response):
            return acting
        member, _, issued = acting
        with engine.begin() as conn:
            done = roster.confirm(conn, member, issued)
        if not done and member.status != roster.ACTIVE:
            return app.refused(
                request,
                "This link is older than your last unsubscribe. "
                "Subscribe again to get a fresh one.",
            )
        log.info(f"{member.email} confirmed")
        every = "week" if member.subscriber.frequency == "weekly" else "day"
        return app.say(
            request,
            title="You are subscribed",
            text=f"{member.email} will get new papers once a {every}, starting with the next "
            "digest.",
            link=app.links.preferences(member.uid),
            link_text="Change your keywords",
        )

    def _preferences_page(
        request: Request,
        member: Member | None = None,
        values: dict[str, Any] | None = None,
        error: str | None = None,
        status: int = 200,
    ) -> Response:
        token = request.path_params["token"]
        if member is None:
            try:
                member, _, _ = app.member("preferences", token)
            except BadToken as exc:
                return app.refused(
                    request, f"{str(exc).capitalize()}. The link in your latest digest works."
                )
        sub = member.subscriber
        if member.status == roster.UNSUBSCRIBED:
            return app.say(
                request,
                title="You are unsubscribed",
                text=f"{member.email} gets no more digests.",
                link="/",
                link_text="Subscribe again",
            )
        current = {
            "name": sub.name or "",
            "keywords": keywords_text(sub),
            "exclude": "\n".join(sub.exclude),
            "authors": "\n".join(sub.authors),
            "max_papers": str(sub.max_papers),
            "frequency": sub.frequency,
            "categories": " ".join(sub.categories),
            "paused": member.paused,
        }
        return app.page(
            request,
            "preferences",
            status,
            scope=f"preferences:{member.uid}",
            member=member,
            values=values or current,
            error=error,
            saved=request.query_params.get("saved") == "1",
            max_papers_limit=MAX_PAPERS_LIMIT,
            unsubscribe_url=app.links.unsubscribe(member.uid),
            hint=HINT,
        )

    def _preferences(request: Request, form: FormData) -> Response:
        acting = app.authorized(request, form, "preferences")
        if isinstance(acting, Response):
            return acting
        member = acting[0]
        if member.status == roster.UNSUBSCRIBED:
            return app.refused(request, "You are unsubscribed; subscribe again first.")
        values: dict[str, Any] = {
            k: _field(form, k)
            for k in (
                "name",
                "keywords",
                "exclude",
                "authors",
                "max_papers",
                "frequency",
                "categories",
            )
        }
        values["paused"] = form.get("paused") == "on"
        before = member.subscriber
        entry: dict[str, Any] = {
            "email": member.email,
            "keywords": keywords_from(values["keywords"], before.keywords),
            "exclude": _lines(values["exclude"]),
            "authors": _lines(values["authors"]),
            "frequency": values["frequency"] or before.frequency,
            "categories": values["categories"].replace(",", " ").split(),
        }
        if values["name"].strip():
            entry["name"] = values["name"]
        if before.min_score is not None:
            entry["min_score"] = before.min_score
        try:
            entry["max_papers"] = int(values["max_papers"] or before.max_papers)
            sub = parse_entry(entry)
        except ValueError as exc:
            return _preferences_page(request, member, values, _say(exc), 400)
        with engine.begin() as conn:
            roster.save(conn, member, replace(sub, uid=member.uid), values["paused"])
        log.info(f"{member.email} saved preferences")
        token = request.path_params["token"]
        return RedirectResponse(f"/preferences/{token}?saved=1", status_code=303)

    def _unsubscribe_page(request: Request) -> Response:
        try:
            member, _, _ = app.member("unsubscribe", request.path_params["token"])
        except BadToken as exc:
            return app.refused(request, f"{str(exc).capitalize()}.")
        if member.status == roster.UNSUBSCRIBED:
            return app.say(
                request,
                title="You are unsubscribed",
                text=f"{member.email} gets no more digests.",
            )
        return app.page(request, "unsubscribe", scope=f"unsubscribe:{member.uid}", member=member)

    def _unsubscribe(request: Request, form: FormData) -> Response:
        one_click = form.get("List-Unsubscribe") == "One-Click" and "csrf" not in form
        if one_click:  # RFC 8058: a mail client posts, with no cookie; the link is the key
            try:
                member, _, _ = app.member("unsubscribe", request.path_params["token"])
            except BadToken as exc:
                return PlainTextResponse(f"{exc}\n", 403)
        else:
            acting = app.authorized(request, form, "unsubscribe")
            if isinstance(acting, Response):
                return acting
            member = acting[0]
        with engine.begin() as conn:
            when = roster.unsubscribe(conn, member)
        log.info(f"{member.email} unsubscribed" + (" (one-click)" if one_click else ""))
        if one_click:  # RFC 8058: the mail client posts; nobody reads a page
            return PlainTextResponse("unsubscribed\n")
        undo = app.signer.make("undo", member.uid, when.isoformat())
        return app.page(
            request,
            "unsubscribed",
            scope=f"undo:{member.uid}",
            member=member,
            undo_url=f"/undo/{undo}",
        )

    def _undo(request: Request, form: FormData) -> Response:
        acting = app.authorized(request, form, "undo")
        if isinstance(acting, Response):
            return acting
        member, payload, _ = acting
        try:
            when = datetime.fromisoformat(str(payload[1]))
        except (IndexError, ValueError):
            return app.refused(request, "This link is not valid.")
        with engine.begin() as conn:
            done = roster.undo_unsubscribe(conn, member, when)
        if not done:
            return app.refused(request, "There is nothing to undo.")
        log.info(f"{member.email} undid their unsubscribe")
        return app.say(
            request,
            title="Welcome back",
            text=f"{member.email} is subscribed again.",
            link=app.links.preferences(member.uid),
            link_text="Your preferences",
        )

    css, _, _ = app.env.loader.get_source(app.env, "web/site.css")  # type: ignore[union-attr]

    async def stylesheet(_request: Request) -> Response:
        return Response(css, media_type="text/css", headers={"Cache-Control": "max-age=3600"})

    async def health(_request: Request) -> Response:
        return PlainTextResponse("ok\n")

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> Any:
        yield
        engine.dispose()

    return Starlette(
        routes=[
            Route("/", subscribe_form, methods=["GET"]),
            Route("/", subscribe, methods=["POST"]),
            Route("/confirm/{token}", shown(_confirm_page), methods=["GET"]),
            Route("/confirm/{token}", posted(_confirm), methods=["POST"]),
            Route("/preferences/{token}", shown(_preferences_page), methods=["GET"]),
            Route("/preferences/{token}", posted(_preferences), methods=["POST"]),
            Route("/unsubscribe/{token}", shown(_unsubscribe_page), methods=["GET"]),
            Route("/unsubscribe/{token}", posted(_unsubscribe), methods=["POST"]),
            Route("/undo/{token}", posted(_undo), methods=["POST"]),
            Route("/site.css", stylesheet, methods=["GET"]),
            Route("/healthz", health, methods=["GET"]),
            Route("/favicon.ico", lambda _r: Response(status_code=204), methods=["GET"]),
        ],
        middleware=[Middleware(BaseHTTPMiddleware, dispatch=_secure)],
        lifespan=lifespan,
    )


Endpoint = Callable[[Request], Awaitable[Response]]


def shown(page: Callable[[Request], Response]) -> Endpoint:
    """A page that reads the database, rendered off the event loop."""

    async def endpoint(request: Request) -> Response:
        return await run_in_threadpool(page, request)

    return endpoint


def posted(handler: Callable[[Request, FormData], Response]) -> Endpoint:
    """A form post: the body read (refused unread when too large), then handled off the
    event loop."""

    async def endpoint(request: Request) -> Response:
        form = await _form(request)
        if form is None:
            return PlainTextResponse("request too large", 413)
        return await run_in_threadpool(handler, request, form)

    return endpoint


async def _secure(
    request: Request, call_next: Callable[[Request], Awaitable[Response]]
) -> Response:
    response = await call_next(request)
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    return response


def _say(exc: Exception) -> str:
    """A validation message as a person reads it."""
    text = str(exc).replace("'keywords' must be a non-empty list", "Enter at least one keyword")
    text = text.replace("invalid email address", "That is not an email address:")
    return text[:1].upper() + text[1:]
