"""The confirmation link (`/confirm/<token>`): a page with a Confirm button, so a mail scanner
that fetches links confirms nothing; the post activates the subscription with the profile
the link carries (what was asked for on the subscribe page; nothing stored changed before)."""

from __future__ import annotations

import logging
from typing import Any

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response

from ..compose.notices import wanted
from ..domain.subscriber import ACTIVE, Subscriber, parse_entry
from .site import Site

log = logging.getLogger("digest.web")


def page(site: Site, request: Request) -> Response:
    linked = site.linked(request, "confirm", " Subscribe again to get a fresh one.")
    if isinstance(linked, Response):
        return linked
    current, payload, _ = linked
    if current.status == ACTIVE:
        return site.say(
            request, title="You are subscribed", text=f"{current.email} already gets Paper Digest."
        )
    profile = asked_for(payload, current.email) or current.subscriber
    return site.page(
        request,
        "confirm",
        scope=f"confirm:{current.uid}",
        member=current,
        requested_name=profile.name,
        keywords=[k.term for k in profile.keywords],
        wanted=wanted(profile),
        weekly=profile.frequency == "weekly",
    )


def post(site: Site, request: Request, form: FormData) -> Response:
    acting = site.authorized(request, form, "confirm")
    if isinstance(acting, Response):
        return acting
    current, payload, issued = acting
    profile = asked_for(payload, current.email)
    done = site.visitors.confirm(current, issued, profile)
    if not done and current.status != ACTIVE:
        return site.refused(
            request,
            "This link is older than your last unsubscribe. Subscribe again to get a fresh one.",
        )
    log.info(f"{current.email} confirmed")
    every = "week" if (profile or current.subscriber).frequency == "weekly" else "day"
    return site.say(
        request,
        title="You are subscribed",
        text=f"{current.email} will get new papers once a {every}, starting with the next digest.",
        link=site.links.preferences(current.uid),
        link_text="Change your keywords",
    )


def asked_for(payload: list[Any], email: str) -> Subscriber | None:
    """The profile a confirmation link carries, for `email` (a link from before links
    carried one: None)."""
    if len(payload) < 2 or not isinstance(payload[1], dict):
        return None
    try:
        return parse_entry({**payload[1], "email": email})
    except ValueError:
        return None
