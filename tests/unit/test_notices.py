"""The two mails the subscriber pages send (the confirmation, and "you already get it"), as
the reader's mail client shows their only, plain-text, part."""

from __future__ import annotations

import re
from datetime import date
from email import message_from_bytes, policy
from email.headerregistry import Address
from email.message import EmailMessage

import pytest

from digest.compose.notices import compose_notice
from digest.compose.templates import make_environment
from digest.compose.text import columns
from digest.subscriptions.forms import subscriber_from
from digest.subscriptions.links import Links, Signer

WIDTH = 72  # what the digest's text part is wrapped at; the notices promise the same
# Long but realistic: a full name, a profile with many keywords, an app served under a path.
NAME = "Maria Guadalupe Fernández-Castillo de la Rosa"
KEYWORDS = [
    "vision-language-action model",
    "diffusion policy",
    "offline reinforcement learning",
    "world model",
    "sim-to-real transfer",
    "dexterous manipulation",
    "humanoid locomotion",
]
BASE_URL = "https://papers.robotics-lab.example-university.edu/paper-digest"


def text_of(kind: str, frequency: str) -> str:
    sub = subscriber_from(
        {
            "email": "m.fernandez-castillo@robotics-lab.example-university.edu",
            "name": NAME,
            "keywords": KEYWORDS,
            "frequency": frequency,
        }
    )
    links = Links(BASE_URL, Signer("a-secret-key-of-32-characters-xx"))
    sender = Address("Paper Digest", "digest", "example-university.edu")
    out = compose_notice(sender, date(2025, 11, 6), make_environment(), links, kind, sub)
    msg = message_from_bytes(out.raw, policy=policy.default)
    assert isinstance(msg, EmailMessage) and not msg.is_multipart()
    return msg.get_content()


@pytest.mark.parametrize("frequency", ["daily", "weekly"])
@pytest.mark.parametrize("kind", ["confirm", "manage"])
def test_every_line_of_a_notice_is_wrapped_at_72_columns_but_its_links(
    kind: str, frequency: str
) -> None:
    text = text_of(kind, frequency)
    lines = text.splitlines()
    # The accepted exception: a link is one signed token, often longer than a line, and stays
    # whole on a line of its own so a text-only reader can still follow it.
    links = [line for line in lines if re.fullmatch(r"https://\S+", line)]
    paths = ["confirm"] if kind == "confirm" else ["preferences", "unsubscribe"]
    for path in paths:  # each one whole, as it was made
        assert any(link.startswith(f"{BASE_URL}/{path}/") for link in links), path
    too_long = [line for line in lines if columns(line) > WIDTH and line not in links]
    assert not too_long, too_long
    # Wrapping moved words, it did not lose any.
    flowing = " ".join(text.split())
    assert f"Hello {NAME}," in flowing
    assert all(k in flowing for k in KEYWORDS[:-1]) and f"and {KEYWORDS[-1]}" in flowing
    assert ("once a week" if frequency == "weekly" else "every day") in flowing
    assert "-- " in lines  # the signature's delimiter, its trailing space kept
