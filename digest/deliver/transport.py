"""Transports hand a composed message to the world: an SMTP relay, an outbox folder, stdout.

A transport sends the stored bytes of one outbox message. send() returns only when the
message was accepted; a refusal of that one message raises Refused (permanent or not), and a
failure that stops all delivery raises DeliveryError. The caller records the outcome, never
the transport.
"""

from __future__ import annotations

from typing import Protocol, Self

from ..domain.digest import Outgoing
from ..settings import MailSettings
from .files import ConsoleTransport, FileTransport
from .smtp import SMTPTransport


class Transport(Protocol):
    name: str
    lanes: int  # how many of it may send at once, each over its own connection

    def __enter__(self) -> Self: ...
    def __exit__(self, *exc: object) -> None: ...
    def send(self, out: Outgoing) -> None: ...
    def describe(self) -> str: ...


def make_transport(mail: MailSettings, *, patient: bool = True) -> Transport:
    """The transport DIGEST_EMAIL_BACKEND names (`patient`: see SMTPTransport)."""
    if mail.backend == "smtp":
        return SMTPTransport(mail.smtp, mail.sender.addr_spec, patient=patient)
    if mail.backend == "console":
        return ConsoleTransport()
    return FileTransport(mail.outbox_dir)
