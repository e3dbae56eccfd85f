"""The preferences page (`/preferences/<token>`, linked from every digest): keywords,
exclusions, followed authors, papers the reader likes (by arXiv id), papers per digest, arXiv
categories, daily or weekly, pause; and the papers the reader rated, each with a button that
removes the rating.
Validation is the subscriber file's, with the same messages."""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from ..domain.subscriber import MAX_PAPERS_LIMIT, MAX_TRENDING, UNSUBSCRIBED, Subscription
from ..subscriptions.forms import (
    categories_from,
    keywords_from,
    keywords_text,
    lines,
    problems,
    readable,
    subscriber_from,
)
from .security import field
from .site import HINT, Site, weekly_day

log = logging.getLogger("digest.web")

FIELDS = (
    "name",
    "keywords",
    "exclude",
    "authors",
    "papers",
    "max_papers",
    "trending",
    "frequency",
    "categories",
)


def _values(current: Subscription) -> dict[str, Any]:
    """The form as the subscriber's preferences fill it."""
    sub = current.subscriber
    return {
        "name": sub.name or "",
        "keywords": keywords_text(sub),
        "exclude": "\n".join(sub.exclude),
        "authors": "\n".join(sub.authors),
        "papers": "\n".join(sub.papers),
        "max_papers": str(sub.max_papers),
        "trending": str(sub.trending),
        "frequency": sub.frequency,
        "categories": " ".join(sub.categories),
        "paused": current.paused,
    }


NO_ARXIV = (
    "Only arXiv says which categories a paper is in, and this digest reads Hugging Face "
    "alone: with categories you would get nothing. Leave this empty."
)


def _whole(raw: str, default: int) -> Any:
    """The papers-per-digest box: a whole number, else the text itself, for its message."""
    raw = raw.strip()
    if not raw:
        return default
    return int(raw) if raw.isascii() and raw.isdigit() and len(raw) <= 6 else raw


def page(
    site: Site,
    request: Request,
    current: Subscription | None = None,
    values: dict[str, Any] | None = None,
    error: str | None = None,
    status: int = 200,
    errors: dict[str, str] | None = None,
) -> Response:
    if current is None:
        linked = site.linked(request, "preferences", " The link in your latest digest works.")
        if isinstance(linked, Response):
            return linked
        current = linked[0]
    if current.status == UNSUBSCRIBED:
        return site.say(
            request,
            title="You are unsubscribed",
            text=f"{current.email} gets no more digests.",
            link="/",
            link_text="Subscribe again",
        )
    return site.page(
        request,
        "preferences",
        status,
        scope=f"preferences:{current.uid}",
        member=current,
        values=values or _values(current),
        error=error,
        errors=errors or {},
        saved=request.query_params.get("saved") == "1",
        removed=request.query_params.get("removed") == "1",
        ratings=site.visitors.ratings(current),
        missing=site.visitors.missing(current.subscriber.papers),
        max_papers_limit=MAX_PAPERS_LIMIT,
        max_trending=MAX_TRENDING,
        unsubscribe_url=site.links.unsubscribe(current.uid),
        archive_url=site.links.archive(current.uid),
        feed_url=site.links.feed(current.uid),
        hint=HINT,
        weekly_day=weekly_day(site.settings),
    )


def post(site: Site, request: Request, form: FormData) -> Response:
    acting = site.authorized(request, form, "preferences")
    if isinstance(acting, Response):
        return acting
    current = acting[0]
    if current.status == UNSUBSCRIBED:
        return site.refused(request, "You are unsubscribed; subscribe again first.")
    token = request.path_params["token"]
    if "unrate" in form:
        site.visitors.rate(current, field(form, "unrate"), None)
        log.info(f"{current.email} removed a rating")
        return RedirectResponse(f"/preferences/{token}?removed=1#ratings", status_code=303)
    values: dict[str, Any] = {k: field(form, k) for k in FIELDS}
    values["paused"] = form.get("paused") == "on"
    before = current.subscriber
    fields = {
        "email": current.email,
        "name": values["name"],
        "keywords": keywords_from(values["keywords"], before.keywords),
        "exclude": lines(values["exclude"]),
        "authors": lines(values["authors"]),
        "papers": categories_from(values["papers"]),
        "frequency": values["frequency"] or before.frequency,
        "categories": categories_from(values["categories"]),
        "min_score": before.min_score,
        "max_papers": _whole(values["max_papers"], before.max_papers),
        "trending": _whole(values["trending"], 0 if "trending" in form else before.trending),
    }
    errors = problems(fields)
    if fields["categories"] and "arxiv" not in site.settings.sources.names:
        errors.setdefault("categories", NO_ARXIV)
    if errors:
        return page(site, request, current, values, errors=errors, status=400)
    try:
        sub = subscriber_from(fields)
    except ValueError as exc:  # what no field alone says
        return page(site, request, current, values, readable(exc), status=400)
    site.visitors.save_preferences(current, replace(sub, uid=current.uid), values["paused"])
    log.info(f"{current.email} saved preferences")
    return RedirectResponse(f"/preferences/{token}?saved=1", status_code=303)
