"""Rating a paper (`/rate/<token>`, "more like this" and "less like this" on every card of a
digest). Like confirming, the link opens a page with one button, so a mail scanner that
fetches every link rates nothing; the post keeps the rating and sends the browser to a page
with an Undo (which names the verdict the rating replaced, so a reload changes nothing), and
the preferences page lists every rating to remove."""

from __future__ import annotations

import logging

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from ..domain.digest import MORE, VERDICTS
from ..domain.paper import Paper
from ..domain.subscriber import UNSUBSCRIBED, Subscription
from .site import Acting, Site

log = logging.getLogger("digest.web")


def page(site: Site, request: Request) -> Response:
    linked = site.linked(request, "rate", " The links in your latest digest work.")
    rating = _rating(site, request, linked)
    if isinstance(rating, Response):
        return rating
    current, paper, verdict = rating
    noted = request.query_params.get("noted")
    if noted is not None:  # where the post sends the browser: a reload rates nothing again
        return site.page(
            request,
            "rated",
            scope=f"rate:{current.uid}",
            member=current,
            paper=paper,
            more=verdict == MORE,
            was=noted if noted in VERDICTS else "",
            preferences_url=site.links.preferences(current.uid),
        )
    return site.page(
        request,
        "rate",
        scope=f"rate:{current.uid}",
        member=current,
        paper=paper,
        more=verdict == MORE,
        was=site.visitors.verdict(current, paper.key) or "",
    )


def post(site: Site, request: Request, form: FormData) -> Response:
    rating = _rating(site, request, site.authorized(request, form, "rate"))
    if isinstance(rating, Response):
        return rating
    current, paper, verdict = rating
    prefs = site.links.preferences(current.uid)
    if form.get("undo") == "1":
        was = form.get("was")
        site.visitors.rate(current, paper.key, was if was in VERDICTS else None)
        log.info(f"{current.email} undid a rating")
        return site.say(
            request,
            title="Undone",
            text="Your digests rank as they did before.",
            link=prefs,
            link_text="Your preferences and ratings",
        )
    site.visitors.rate(current, paper.key, verdict)
    log.info(f"{current.email} rated a paper")
    was = form.get("was")  # as the asking page found it: a second post of it undoes right
    token = request.path_params["token"]
    noted = was if was in VERDICTS else "none"
    return RedirectResponse(f"/rate/{token}?noted={noted}", status_code=303)


def _rating(
    site: Site, request: Request, acting: Acting | Response
) -> tuple[Subscription, Paper, str] | Response:
    """Who the link (or the form posted from it) acts for, and the paper and verdict it
    names; else the page that says why."""
    if isinstance(acting, Response):
        return acting
    current, payload, _ = acting
    if current.status == UNSUBSCRIBED:
        return site.say(
            request, title="You are unsubscribed", text=f"{current.email} gets no more digests."
        )
    key, verdict = [*payload[1:3], None, None][:2]
    if not isinstance(key, str) or verdict not in VERDICTS:
        return site.refused(request, "This link is not valid.")
    paper = site.visitors.paper(key)
    if paper is None:
        return site.refused(request, "This paper is no longer in the digest's records.", 404)
    return current, paper, str(verdict)
