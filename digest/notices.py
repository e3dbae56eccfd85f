"""The two emails the web app sends outside the digest: the double opt-in confirmation, and
"you are already subscribed, here is your link". Plain text, built like the digest's
headers (email.headerregistry, verified on serialization), sent at once through the
configured transport: they are answers to a person waiting at a form, not outbox items."""

from __future__ import annotations

from datetime import UTC, datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from jinja2 import Environment

from .compose import header_text, serialize, spoken_list
from .config import Settings
from .deliver import make_transport
from .models import Subscriber
from .store import Outgoing
from .tokens import MAX_AGE, Links

SUBJECTS = {
    "confirm": "Confirm your Paper Digest subscription",
    "manage": "Your Paper Digest subscription",
}


def compose_notice(
    settings: Settings, env: Environment, links: Links, kind: str, sub: Subscriber
) -> Outgoing:
    """The notice for `sub`, rendered with the app's template environment (`env`)."""
    confirm_age = MAX_AGE["confirm"]
    assert confirm_age is not None
    text = env.get_template(f"{kind}.txt.j2").render(
        name=sub.name or "",
        keyword_list=spoken_list([k.term for k in sub.keywords]),
        frequency_label="once a week" if sub.frequency == "weekly" else "every day",
        hours=int(confirm_age.total_seconds() // 3600),
        confirm_url=links.confirm(sub.uid),
        preferences_url=links.preferences(sub.uid),
        unsubscribe_url=links.unsubscribe(sub.uid),
        subscribe_url=links.subscribe(),
    )
    sender = settings.from_address
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
        day=datetime.now(settings.tz).date(),
        subject=SUBJECTS[kind],
        raw=serialize(msg),
        attempts=0,
    )


def send_notice(settings: Settings, out: Outgoing) -> None:
    """Hand the notice to the transport now; raises deliver.Refused or DeliveryError."""
    with make_transport(settings) as transport:
        transport.send(out)
