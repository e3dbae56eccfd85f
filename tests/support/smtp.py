"""A real SMTP server on loopback (aiosmtpd) that keeps what it accepts, counts connections,
and refuses, drops or stalls on cue, per recipient and per attempt."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

from tests.support.net import free_port


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    raw: bytes

    @property
    def message(self) -> EmailMessage:
        return message_from_bytes(self.raw, policy=policy.default)  # type: ignore[return-value]


@dataclass
class SMTPHandler:
    """Accepts and keeps every message, unless told otherwise.

    `faults[rcpt]` lists what the server does on that recipient's successive attempts:
    an SMTP answer ("451 4.3.0 later") refuses at RCPT; "data 554 ..." refuses after DATA;
    "drop" closes the connection mid-DATA; "stall" says nothing until the client times out;
    "ok" (or a list run out) accepts. `on_mail(n, server)` runs at the n-th MAIL FROM and
    `on_data(n, server)` at the n-th DATA (`server` is the session's aiosmtpd SMTP instance).
    """

    received: list[Received] = field(default_factory=list)
    refuse_rcpt: dict[str, str] = field(default_factory=dict)
    faults: dict[str, list[str]] = field(default_factory=dict)
    attempts: Counter[str] = field(default_factory=Counter)
    peers: set[tuple[str, int]] = field(default_factory=set)
    refuse_mail: str | None = None
    on_mail: Callable[[int, Any], None] | None = None
    on_data: Callable[[int, Any], None] | None = None
    data_delay: float = 0.0
    mails: int = 0
    datas: int = 0
    accepted_at: list[float] = field(default_factory=list)  # monotonic time of each acceptance
    per_connection: Counter[tuple[str, int]] = field(default_factory=Counter)
    open: int = 0  # connections open now, and the most ever open at once
    most_open: int = 0

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        self.peers.add(tuple(session.peer))  # one client address and port per connection
        session.host_name = hostname  # aiosmtpd leaves this to a handler that hooks EHLO
        return responses

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        self.mails += 1
        if self.on_mail:
            self.on_mail(self.mails, server)
        if self.refuse_mail:
            return self.refuse_mail
        envelope.mail_from = address
        return "250 OK"

    def _fault(self, envelope) -> str:
        (rcpt,) = envelope.rcpt_tos or ["?"]
        script = self.faults.get(rcpt, [])
        n = self.attempts[rcpt] - 1
        return script[n] if 0 <= n < len(script) else "ok"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.refuse_rcpt:
            return self.refuse_rcpt[address]
        self.attempts[address] += 1
        script = self.faults.get(address, [])
        fault = script[self.attempts[address] - 1] if self.attempts[address] <= len(script) else ""
        if fault[:1].isdigit():
            return fault
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.datas += 1
        if self.on_data:
            self.on_data(self.datas, server)
        if self.data_delay:
            await asyncio.sleep(self.data_delay)
        fault = self._fault(envelope)
        if fault == "drop":
            server.transport.close()
            return "421 closing"
        if fault == "stall":
            await asyncio.sleep(3)
            return "451 too late"
        if fault.startswith("data "):
            return fault[5:]
        self.received.append(
            Received(envelope.mail_from, list(envelope.rcpt_tos), envelope.content)
        )
        self.accepted_at.append(time.monotonic())
        self.per_connection[tuple(session.peer)] += 1
        return "250 Message accepted for delivery"

    def count(self) -> Counter[str]:
        """Accepted copies per recipient."""
        return Counter(r for m in self.received for r in m.rcpt_tos)


class CountingSMTP(SMTP):
    """aiosmtpd's session, counting the connections open at once."""

    def connection_made(self, transport: Any) -> None:
        self.event_handler.open += 1
        self.event_handler.most_open = max(self.event_handler.most_open, self.event_handler.open)
        super().connection_made(transport)

    def connection_lost(self, exc: Exception | None) -> None:
        self.event_handler.open -= 1
        super().connection_lost(exc)


class CountingController(Controller):
    def factory(self) -> SMTP:
        return CountingSMTP(self.handler, **self.SMTP_kwargs)


class SMTPServer:
    def __init__(self, **kwargs: Any) -> None:
        self.handler = SMTPHandler()
        self.port = free_port()
        self.controller = CountingController(
            self.handler, hostname="127.0.0.1", port=self.port, **kwargs
        )

    @property
    def received(self) -> list[Received]:
        return self.handler.received

    def env(self, **extra: str) -> dict[str, str]:
        """Settings that send through this server, in plain text, retrying without delay."""
        return {
            "DIGEST_EMAIL_BACKEND": "smtp",
            "SMTP_HOST": "127.0.0.1",
            "SMTP_PORT": str(self.port),
            "SMTP_SECURITY": "none",
            "SMTP_RETRY_DELAY": "0.01",
            **extra,
        }

    def __enter__(self) -> SMTPServer:
        self.controller.start()
        self.handler.most_open = 0  # the controller's own check that it is up
        return self

    def __exit__(self, *exc: object) -> None:
        self.controller.stop()


def authenticator(user: str, password: str) -> Callable[..., AuthResult]:
    def check(server, session, envelope, mechanism, auth_data):
        ok = isinstance(auth_data, LoginPassword) and (
            auth_data.login.decode() == user and auth_data.password.decode() == password
        )
        return AuthResult(success=ok, handled=False)

    return check
