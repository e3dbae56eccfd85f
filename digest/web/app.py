"""`digest serve`: the subscriber's side, a small Starlette app, wired here from its pages.

A subscribe page with double opt-in, a preferences page with the reader's ratings, "more /
less like this" for each paper of a digest, and unsubscribe (RFC 8058 one-click for mail
clients, a page with an undo for people). Every link that acts for a subscriber is
signed (`subscriptions.links`) and names them by a random id; every form carries a CSRF token
bound to a cookie and to what the form is for. Nothing here keeps a session, and nothing here
speaks SQL: the pages call `jobs.visitors`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from ..compose.templates import make_environment
from ..errors import ConfigError
from ..jobs.visitors import Visitors
from ..settings import Settings
from ..subscriptions.links import Links, Signer
from . import confirm, preferences, rate, reading, sample, subscribe, unsubscribe
from .security import PER_CLIENT, PER_NETWORK, Csrf, Window, read_form, secure
from .site import Site

Endpoint = Callable[[Request], Awaitable[Response]]


def shown(site: Site, page: Callable[[Site, Request], Response]) -> Endpoint:
    """A page that reads the database, rendered off the event loop."""

    async def endpoint(request: Request) -> Response:
        return await run_in_threadpool(page, site, request)

    return endpoint


def posted(site: Site, handler: Callable[[Site, Request, FormData], Response]) -> Endpoint:
    """A form post: the body read (refused unread when too large), then handled off the
    event loop."""

    async def endpoint(request: Request) -> Response:
        form = await read_form(request)
        if form is None:
            return PlainTextResponse("request too large", 413)
        return await run_in_threadpool(handler, site, request, form)

    return endpoint


def posted_raw(site: Site, handler: Callable[[Site, Request], Awaitable[Response]]) -> Endpoint:
    """A post that reads its own body (the subscribe form checks its rate limit first)."""

    async def endpoint(request: Request) -> Response:
        return await handler(site, request)

    return endpoint


def make_site(settings: Settings, base_url: str) -> Site:
    """The app's shared parts; ConfigError without a secret key to sign links with."""
    secret = settings.web.secret_key
    if not secret:
        raise ConfigError(
            "DIGEST_SECRET_KEY is not set: `digest serve` signs every link with it (make one "
            "with: python -c 'import secrets; print(secrets.token_urlsafe(32))')"
        )
    signer = Signer(secret)
    links = Links(base_url, signer)
    return Site(
        settings=settings,
        visitors=Visitors.open(settings.database),
        signer=signer,
        links=links,
        env=make_environment(settings.templates_dir),
        csrf=Csrf(signer, links.base),
        per_client=Window(*PER_CLIENT),
        per_network=Window(*PER_NETWORK),
        confirmations=Window(settings.web.mails_per_hour, 3600.0),
    )


def build_app(settings: Settings, base_url: str) -> Starlette:
    site = make_site(settings, base_url)
    css, _, _ = site.env.loader.get_source(site.env, "web/site.css")  # type: ignore[union-attr]

    async def stylesheet(_request: Request) -> Response:
        return Response(css, media_type="text/css", headers={"Cache-Control": "max-age=3600"})

    async def health(_request: Request) -> Response:
        return PlainTextResponse("ok\n")

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        yield
        site.visitors.close()

    return Starlette(
        routes=[
            Route("/", shown(site, subscribe.form_page), methods=["GET"]),
            Route("/", posted_raw(site, subscribe.subscribe), methods=["POST"]),
            Route("/confirm/{token}", shown(site, confirm.page), methods=["GET"]),
            Route("/confirm/{token}", posted(site, confirm.post), methods=["POST"]),
            Route("/preferences/{token}", shown(site, preferences.page), methods=["GET"]),
            Route("/preferences/{token}", posted(site, preferences.post), methods=["POST"]),
            Route("/unsubscribe/{token}", shown(site, unsubscribe.page), methods=["GET"]),
            Route("/unsubscribe/{token}", posted(site, unsubscribe.post), methods=["POST"]),
            Route("/undo/{token}", posted(site, unsubscribe.undo), methods=["POST"]),
            Route("/sample", shown(site, sample.page), methods=["GET"]),
            Route("/view/{token}", shown(site, reading.view), methods=["GET"]),
            Route("/archive/{token}", shown(site, reading.archive), methods=["GET"]),
            Route("/feed/{token}", shown(site, reading.feed), methods=["GET"]),
            Route("/rate/{token}", shown(site, rate.page), methods=["GET"]),
            Route("/rate/{token}", posted(site, rate.post), methods=["POST"]),
            Route("/site.css", stylesheet, methods=["GET"]),
            Route("/healthz", health, methods=["GET"]),
            Route("/favicon.ico", lambda _r: Response(status_code=204), methods=["GET"]),
        ],
        middleware=[Middleware(BaseHTTPMiddleware, dispatch=secure)],
        lifespan=lifespan,
    )
