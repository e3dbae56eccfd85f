"""The confirmation link (`/confirm/<token>`): a page with a Confirm button, so a mail scanner
that fetches links confirms nothing; the post activates the subscription."""

from __future__ import annotations

import logging

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response

from ..domain.subscriber import ACTIVE
from .site import Site

log = logging.getLogger("digest.web")


def page(site: Site, request: Request) -> Response:
    linked = site.linked(request, "confirm", " Subscribe again to get a fresh one.")
    if isinstance(linked, Response):
        return linked
    current = linked[0]
    if current.status == ACTIVE:
        return site.say(
            request, title="You are subscribed", text=f"{current.email} already gets Paper Digest."
        )
    return site.page(
        request,
        "confirm",
        scope=f"confirm:{current.uid}",
        member=current,
        keywords=[k.term for k in current.subscriber.keywords],
    )


def post(site: Site, request: Request, form: FormData) -> Response:
    acting = site.authorized(request, form, "confirm")
    if isinstance(acting, Response):
        return acting
    current, _, issued = acting
    done = site.visitors.confirm(current, issued)
    if not done and current.status != ACTIVE:
        return site.refused(
            request,
            "This link is older than your last unsubscribe. Subscribe again to get a fresh one.",
        )
    log.info(f"{current.email} confirmed")
    every = "week" if current.subscriber.frequency == "weekly" else "day"
    return site.say(
        request,
        title="You are subscribed",
        text=f"{current.email} will get new papers once a {every}, starting with the next digest.",
        link=site.links.preferences(current.uid),
        link_text="Change your keywords",
    )
