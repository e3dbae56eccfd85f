"""Unsubscribing (`/unsubscribe/<token>`): RFC 8058 one-click for mail clients, which post
with no cookie and read no page; for people, a page with an Unsubscribe button and, after it,
an Undo (`/undo/<token>`) that undoes exactly that unsubscribe."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from ..domain.subscriber import UNSUBSCRIBED
from ..errors import BadToken
from .site import Site

log = logging.getLogger("digest.web")


def page(site: Site, request: Request) -> Response:
    linked = site.linked(request, "unsubscribe")
    if isinstance(linked, Response):
        return linked
    current = linked[0]
    if current.status == UNSUBSCRIBED:
        return site.say(
            request, title="You are unsubscribed", text=f"{current.email} gets no more digests."
        )
    return site.page(request, "unsubscribe", scope=f"unsubscribe:{current.uid}", member=current)


def post(site: Site, request: Request, form: FormData) -> Response:
    one_click = form.get("List-Unsubscribe") == "One-Click" and "csrf" not in form
    if one_click:  # RFC 8058: a mail client posts, with no cookie; the link is the key
        try:
            current, _, _ = site.named("unsubscribe", request.path_params["token"])
        except BadToken as exc:
            return PlainTextResponse(f"{exc}\n", 403)
    else:
        acting = site.authorized(request, form, "unsubscribe")
        if isinstance(acting, Response):
            return acting
        current = acting[0]
    # an undo restores the unsubscribe before this one, which still revokes older links
    before = current.unsubscribed_at if current.status != UNSUBSCRIBED else None
    when = site.visitors.unsubscribe(current)
    log.info(f"{current.email} unsubscribed" + (" (one-click)" if one_click else ""))
    if one_click:  # nobody reads a page
        return PlainTextResponse("unsubscribed\n")
    undo = site.signer.make(
        "undo", current.uid, when.isoformat(), before.isoformat() if before else ""
    )
    return site.page(
        request,
        "unsubscribed",
        scope=f"undo:{current.uid}",
        member=current,
        undo_url=f"/undo/{undo}",
    )


def undo(site: Site, request: Request, form: FormData) -> Response:
    acting = site.authorized(request, form, "undo")
    if isinstance(acting, Response):
        return acting
    current, payload, _ = acting
    try:
        when = _aware(datetime.fromisoformat(str(payload[1])))
        earlier = payload[2] if len(payload) > 2 else ""  # undo links before 0.8 lack it
        before = _aware(datetime.fromisoformat(earlier)) if earlier else None
    except (IndexError, ValueError, TypeError):
        return site.refused(request, "This link is not valid.")
    if not site.visitors.undo_unsubscribe(current, when, before):
        return site.refused(request, "There is nothing to undo.")
    log.info(f"{current.email} undid their unsubscribe")
    return site.say(
        request,
        title="Welcome back",
        text=f"{current.email} is subscribed again.",
        link=site.links.preferences(current.uid),
        link_text="Your preferences",
    )


def _aware(when: datetime) -> datetime:
    return when if when.tzinfo else when.replace(tzinfo=UTC)  # an undo link from before
