"""The subscribe page (`/`): the form, and double opt-in. The answer is the same whether the
address is new, pending, subscribed or unsubscribed, so the form reveals nobody."""

from __future__ import annotations

import logging
from dataclasses import replace

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from ..domain.subscriber import NEW_SUBSCRIBER_TRENDING, Subscriber
from ..errors import DeliveryError, Refused
from ..jobs.visitors import send_notice
from ..subscriptions.forms import keywords_from, problems, readable, subscriber_from
from .security import field, network, read_form
from .site import HINT, Site, weekly_day

log = logging.getLogger("digest.web")

FIELDS = ("email", "name", "keywords", "frequency", "send")
# What to send, as the form offers it, and the `trending` each choice sets: papers on the
# keywords and a short trending section (a new subscriber's default); keywords only; or just
# the day's trending papers, no keywords needed.
BOTH, KEYWORDS_ONLY, TRENDING_ONLY = "both", "keywords", "trending"
SENDS = {BOTH: NEW_SUBSCRIBER_TRENDING, KEYWORDS_ONLY: 0, TRENDING_ONLY: 10}


def form_page(
    site: Site,
    request: Request,
    values: dict[str, str] | None = None,
    error: str | None = None,
    status: int = 200,
    errors: dict[str, str] | None = None,
) -> Response:
    return site.page(
        request,
        "subscribe",
        status,
        scope="subscribe",
        values={**dict.fromkeys(FIELDS, ""), **(values or {})},
        error=error,
        errors=errors or {},
        hint=HINT,
        popular=site.popular(),
        weekly_day=weekly_day(site.settings),
        new_trending=SENDS[BOTH],
        only_trending=SENDS[TRENDING_ONLY],
    )


async def subscribe(site: Site, request: Request) -> Response:
    """The form posted: rate-limited per client, its CSRF token checked, then validated as a
    subscriber-file entry is."""
    client = request.client.host if request.client else "?"
    wait = site.per_client.allow(client)
    if wait:
        return too_many(site, request, wait)
    form = await read_form(request)
    if form is None:
        return PlainTextResponse("request too large", 413)
    if not site.csrf.ok(request, form, "subscribe"):
        return site.refused(request, "This form has expired. Please load the page again.")
    values = {k: field(form, k) for k in FIELDS}
    send = values["send"] if values["send"] in SENDS else BOTH
    fields = {
        "email": values["email"],
        "name": values["name"],
        "keywords": [] if send == TRENDING_ONLY else keywords_from(values["keywords"]),
        "frequency": values["frequency"] or "daily",
        "trending": SENDS[send],
    }
    errors = problems(fields)
    if send != TRENDING_ONLY and not fields["keywords"]:  # a choice that promised keywords
        errors["keywords"] = "Enter at least one keyword, or choose just the trending papers."
    if errors:
        return await run_in_threadpool(form_page, site, request, values, None, 400, errors)
    try:
        sub = subscriber_from(fields)
    except ValueError as exc:  # what no field alone says
        return await run_in_threadpool(form_page, site, request, values, readable(exc), 400)
    return await run_in_threadpool(asked, site, request, sub, network(client))


def asked(site: Site, request: Request, sub: Subscriber, net: str) -> Response:
    """Mail the address its confirmation link (or, if it is subscribed, its preferences link),
    within the rations: the address's own, then the client network's, then the app's; then
    the one answer for every address. A ration used up gives every address the same refusal,
    whatever its state, and is looked at before the address is."""
    if wait := site.per_network.wait(net):
        return too_many(site, request, wait)
    if site.confirmations.full("all"):
        return at_the_cap(site, request)
    outcome = site.visitors.request(sub)
    if outcome is None:
        log.info(f"{sub.email} was mailed a few minutes ago: not mailed again")
    else:
        kind, current = outcome
        # filled meanwhile by another request: nothing mailed, nothing counted against it
        if wait := site.per_network.allow(net):
            site.visitors.forget_notice(current.email)
            return too_many(site, request, wait)
        if site.confirmations.allow("all"):
            site.per_network.release(net)
            site.visitors.forget_notice(current.email)
            return at_the_cap(site, request)
        # a confirmation carries the profile asked for; a subscriber's own stays theirs
        mailed = replace(sub, uid=current.uid) if kind == "confirm" else current.subscriber
        try:
            send_notice(site.settings, site.env, site.links, kind, mailed)
        except (Refused, DeliveryError) as exc:  # not mailed: not counted either
            site.per_network.release(net)
            site.confirmations.release("all")
            site.visitors.forget_notice(current.email)
            log.error(f"could not mail {current.email}: {exc}")
            return site.refused(
                request,
                "We could not send you the email just now. Please try again in a few minutes.",
                503,
            )
        log.info(f"{kind} mail sent to {current.email}")
    return site.say(
        request,
        title="Check your inbox",
        text=(
            f"If {sub.email} can get Paper Digest, an email is on its way there with a link "
            "to confirm. Nothing is sent until you follow it."
        ),
    )


def too_many(site: Site, request: Request, wait: float) -> Response:
    response = site.refused(
        request, "Too many requests from your address. Please try again later.", 429
    )
    response.headers["Retry-After"] = str(int(wait) + 1)
    return response


def at_the_cap(site: Site, request: Request) -> Response:
    log.warning("subscribe page mails at their hourly limit; refused a request")
    return site.refused(request, "Too many sign-ups right now. Please try again in an hour.", 503)
