"""The two emails the web app sends outside the digest: the double opt-in confirmation, and
"you are already subscribed, here is your link". Plain text, built like the digest's
headers (email.headerregistry, verified on serialization); the web app sends them at once,
as answers to a person waiting at a form, not as outbox items."""

from __future__ import annotations

from datetime import UTC, date, datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from jinja2 import Environment

from ..domain.digest import Outgoing
from ..domain.subscriber import Subscriber, entry_of
from ..subscriptions.links import MAX_AGE, Links
from .mime import header_text, serialize
from .render import spoken_list

SUBJECTS = {
    "confirm": "Confirm your Paper Digest subscription",
    "manage": "Your Paper Digest subscription",
}


def wanted(sub: Subscriber) -> str:
    """What a profile asks for, in a sentence's words: "new research papers on world model
    and robot, then the day's 3 most upvoted", or "the week's 10 most upvoted new papers"."""
    period = "week's" if sub.frequency == "weekly" else "day's"
    on = spoken_list([k.term for k in sub.keywords])
    if not on:
        return f"the {period} {sub.trending} most upvoted new research papers"
    then = f", then the {period} {sub.trending} most upvoted others" if sub.trending else ""
    return f"new research papers on {on}{then}"


def compose_notice(
    sender: Address, today: date, env: Environment, links: Links, kind: str, sub: Subscriber
) -> Outgoing:
    """The notice of `kind` ("confirm" or "manage") for `sub`, from `sender`, rendered with
    the app's template environment (`env`)."""
    confirm_age = MAX_AGE["confirm"]
    assert confirm_age is not None
    text = env.get_template(f"{kind}.txt.j2").render(
        name=sub.name or "",
        keyword_list=spoken_list([k.term for k in sub.keywords]),
        wanted=wanted(sub),
        frequency_label="once a week" if sub.frequency == "weekly" else "every day",
        hours=int(confirm_age.total_seconds() // 3600),
        confirm_url=links.confirm(sub.uid, _requested(sub)),
        preferences_url=links.preferences(sub.uid),
        unsubscribe_url=links.unsubscribe(sub.uid),
        subscribe_url=links.subscribe(),
    )
    msg = EmailMessage()
    msg["Subject"] = SUBJECTS[kind]
    msg["From"] = sender
    msg["To"] = Address(display_name=header_text(sub.name or "", 100), addr_spec=sub.email)
    msg["Date"] = format_datetime(datetime.now(UTC))
    msg["Message-ID"] = make_msgid("notice", domain=sender.domain or "localhost")
    msg["Auto-Submitted"] = "auto-generated"
    msg.set_content(text, cte="quoted-printable")
    return Outgoing(
        message_id=str(msg["Message-ID"]),
        recipient=sub.email,
        day=today,
        subject=SUBJECTS[kind],
        raw=serialize(msg),
        attempts=0,
    )


def _requested(sub: Subscriber) -> dict[str, object]:
    """The profile a confirmation link carries: the entry without the address (a link names
    nobody by address; confirming adds the one the link's id names)."""
    entry = entry_of(sub)
    entry.pop("email", None)
    return entry
