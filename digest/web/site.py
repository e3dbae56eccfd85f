"""What every page handler is handed: the app's settings and database, its signed links and
templates, its rate windows, and the checks and responses the pages share."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from jinja2 import Environment
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from ..compose.render import Composer
from ..domain.subscriber import Subscription
from ..errors import BadToken
from ..jobs.visitors import Visitors
from ..settings import WEEKDAYS, Settings
from ..subscriptions.links import Links, Signer
from .security import CSRF_COOKIE, Csrf, Window

POPULAR_TTL = 600.0
HINT = ["world model", "offline RL", "diffusion policy", "LLM agent", "state space model"]

Acting = tuple[Subscription, list[Any], datetime]  # who a signed link names, its payload, when


def weekly_day(settings: Settings) -> str:
    """The day weekly digests go out, as the pages name it ("Monday"): DIGEST_WEEKLY_DAY. A run
    on that day sends them (or the first run after it, when none runs that day)."""
    return WEEKDAYS[settings.schedule.weekly_day].capitalize()


@dataclass
class Site:
    settings: Settings
    visitors: Visitors
    signer: Signer
    links: Links
    env: Environment
    csrf: Csrf
    per_client: Window  # subscribe posts, per client address
    per_network: Window  # mails they cause, per client network
    confirmations: Window  # mails they cause, for the whole app
    _popular: tuple[float, list[str]] = (float("-inf"), [])
    _composer: Composer | None = None
    sample: str | None = None  # the sample digest's page (web.sample), made on first view

    def composer(self) -> Composer:
        """The digest's composer, for its pages in the browser: made on first use, with this
        app's links."""
        if self._composer is None:
            s = self.settings
            self._composer = Composer(s.mail.sender, self.links, s.templates_dir)
        return self._composer

    def popular(self) -> list[str]:
        """The form's "popular in recent papers" hint, read from the store at most every
        POPULAR_TTL seconds rather than on every page view."""
        stamp, words = self._popular
        if time.monotonic() - stamp > POPULAR_TTL:
            words = self.visitors.popular_keywords()
            self._popular = (time.monotonic(), words)
        return words

    # --- responses ------------------------------------------------------------------------

    def page(self, request: Request, name: str, status: int = 200, **ctx: Any) -> HTMLResponse:
        """Render a page; forms on it get a CSRF token for `ctx['scope']`."""
        cookie = request.cookies.get(CSRF_COOKIE) or secrets.token_urlsafe(18)
        scope = ctx.get("scope")
        html = self.env.get_template(f"web/{name}.html.j2").render(
            csrf=self.csrf.token(cookie, scope) if scope else "",
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

    def named(self, purpose: str, token: str) -> Acting:
        """The subscription a link's token names, for `purpose`; BadToken otherwise."""
        payload, issued = self.signer.read(purpose, token)
        uid = payload[0]
        if not isinstance(uid, str):
            raise BadToken("this link is not valid")
        found = self.visitors.find(uid)
        if found is None:
            raise BadToken("this subscription no longer exists")
        return found, payload, issued

    def linked(self, request: Request, purpose: str, advice: str = "") -> Acting | Response:
        """Who the page's link names, for `purpose`; else the page that says why (and, after
        it, `advice`)."""
        try:
            return self.named(purpose, request.path_params["token"])
        except BadToken as exc:
            return self.refused(request, f"{str(exc).capitalize()}.{advice}")

    def authorized(self, request: Request, form: FormData, purpose: str) -> Acting | Response:
        """The subscription a posted form acts for: its link's token and its CSRF token must
        both hold, for this purpose and this subscriber. Else the page that says why."""
        acting = self.linked(request, purpose)
        if isinstance(acting, Response):
            return acting
        if not self.csrf.ok(request, form, f"{purpose}:{acting[0].uid}"):
            return self.refused(request, "This form has expired. Please load the page again.")
        return acting
