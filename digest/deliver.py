"""Transports hand a composed message to the world: an SMTP relay, an outbox folder, stdout.

A transport's send() returns only when the message was accepted; a refusal of that one
message raises Refused (permanent or not), and a failure that stops all delivery raises
DeliveryError. The caller writes the ledger, never the transport.
"""

from __future__ import annotations

import hashlib
import os
import re
import smtplib
import ssl
import sys
from pathlib import Path
from typing import IO, Protocol, Self

from .compose import Composed
from .config import Settings


class DeliveryError(Exception):
    """Nothing can be delivered this run (relay unreachable, login refused, outbox unwritable)."""


class Refused(Exception):
    """The transport declined this one message; `permanent` says whether retrying can help."""

    def __init__(self, code: int | None, reason: str, permanent: bool) -> None:
        super().__init__(f"{code} {reason}" if code else reason)
        self.code = code
        self.reason = reason
        self.permanent = permanent


class Transport(Protocol):
    name: str

    def __enter__(self) -> Self: ...
    def __exit__(self, *exc: object) -> None: ...
    def send(self, composed: Composed) -> None: ...
    def describe(self) -> str: ...


def _reason(raw: bytes | str) -> str:
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
    return " ".join(text.split())


class SMTPTransport:
    """One connection for the whole batch, reopened once if the relay drops it."""

    name = "smtp"

    def __init__(self, settings: Settings) -> None:
        assert settings.smtp_host
        self.host = settings.smtp_host
        self.port = settings.smtp_port
        self.security = settings.smtp_security
        self.username = settings.smtp_username
        self.password = settings.smtp_password
        self.timeout = settings.smtp_timeout
        self.sender = settings.from_address.addr_spec
        self.conn: smtplib.SMTP | None = None

    def describe(self) -> str:
        return f"smtp://{self.host}:{self.port} ({self.security})"

    def _connect(self) -> smtplib.SMTP:
        where = f"SMTP relay {self.host}:{self.port}"
        context = ssl.create_default_context()
        try:
            if self.security == "ssl":
                conn: smtplib.SMTP = smtplib.SMTP_SSL(
                    self.host, self.port, timeout=self.timeout, context=context
                )
            else:
                conn = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
            conn.ehlo()
            if self.security == "starttls":
                if not conn.has_extn("starttls"):
                    conn.close()
                    raise DeliveryError(
                        f"{where} does not offer STARTTLS (set SMTP_SECURITY=ssl or none)"
                    )
                conn.starttls(context=context)
                conn.ehlo()
            if self.username:
                conn.login(self.username, self.password or "")
        except smtplib.SMTPAuthenticationError as exc:
            answer = f"{exc.smtp_code} {_reason(exc.smtp_error)}"
            message = f"{where} refused the login for {self.username}: {answer}"
            raise DeliveryError(message) from None
        except smtplib.SMTPNotSupportedError as exc:
            raise DeliveryError(f"{where}: {exc}") from None
        except ssl.SSLError as exc:
            raise DeliveryError(f"{where}: TLS failed: {exc.reason or exc}") from None
        except (smtplib.SMTPException, OSError) as exc:
            raise DeliveryError(f"cannot reach {where}: {exc or type(exc).__name__}") from None
        return conn

    def __enter__(self) -> Self:
        self.conn = self._connect()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.conn is not None:
            try:
                self.conn.quit()
            except (smtplib.SMTPException, OSError):
                self.conn.close()
            self.conn = None

    def _send_once(self, composed: Composed) -> None:
        assert self.conn is not None
        rcpt = composed.digest.subscriber.email
        try:
            self.conn.send_message(composed.message, from_addr=self.sender, to_addrs=[rcpt])
        except smtplib.SMTPRecipientsRefused as exc:
            code, reason = exc.recipients.get(rcpt, (None, b"recipient refused"))
            raise Refused(code, _reason(reason), permanent=bool(code and code >= 500)) from None
        except (smtplib.SMTPSenderRefused, smtplib.SMTPDataError) as exc:
            raise Refused(
                exc.smtp_code, _reason(exc.smtp_error), permanent=exc.smtp_code >= 500
            ) from None

    def send(self, composed: Composed) -> None:
        try:
            self._send_once(composed)
        except (smtplib.SMTPServerDisconnected, smtplib.SMTPResponseException, OSError) as exc:
            if isinstance(exc, smtplib.SMTPResponseException) and exc.smtp_code != 421:
                raise Refused(
                    exc.smtp_code, _reason(exc.smtp_error), exc.smtp_code >= 500
                ) from None
            self.__exit__()
            try:
                self.conn = self._connect()
                self._send_once(composed)
            except DeliveryError as again:
                raise Refused(
                    None, f"connection lost and not regained: {again}", permanent=False
                ) from None
            except (smtplib.SMTPException, OSError) as again:
                raise Refused(
                    None, f"connection lost: {again or type(again).__name__}", False
                ) from None
        except smtplib.SMTPException as exc:
            raise Refused(None, f"{type(exc).__name__}: {exc}", permanent=False) from None


_UNSAFE = re.compile(r"[^A-Za-z0-9._@+-]+")


class FileTransport:
    """An `.eml` and an `.html` per message under outbox/DAY/, written atomically."""

    name = "file"

    def __init__(self, outbox: Path) -> None:
        self.outbox = outbox

    def describe(self) -> str:
        return f"{self.outbox}/"

    def __enter__(self) -> Self:
        try:
            self.outbox.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise DeliveryError(f"cannot create outbox {self.outbox}: {exc.strerror}") from None
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def paths(self, composed: Composed) -> tuple[Path, Path]:
        digest = composed.digest
        tag = hashlib.sha256(digest.message_id.encode()).hexdigest()[:8]
        stem = f"{_UNSAFE.sub('_', digest.subscriber.email)}.{tag}"
        folder = self.outbox / digest.day.isoformat()
        return folder / f"{stem}.eml", folder / f"{stem}.html"

    def send(self, composed: Composed) -> None:
        eml, html = self.paths(composed)
        try:
            eml.parent.mkdir(parents=True, exist_ok=True)
            _write_atomic(html, composed.html.encode("utf-8"))
            _write_atomic(eml, composed.message.as_bytes())
        except OSError as exc:
            raise DeliveryError(f"cannot write to outbox {eml.parent}: {exc.strerror}") from None


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


class ConsoleTransport:
    """The message as it would go over the wire, on stdout: for a look, not for delivery."""

    name = "console"

    def __init__(self, stream: IO[str] | None = None) -> None:
        self.stream = stream or sys.stdout

    def describe(self) -> str:
        return "the console"

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def send(self, composed: Composed) -> None:
        msg = composed.message
        self.stream.write("\n".join(f"{k}: {v}" for k, v in msg.items()))
        self.stream.write("\n\n" + composed.text + "\n" + "-" * 72 + "\n")
        self.stream.flush()


def make_transport(settings: Settings) -> Transport:
    if settings.email_backend == "smtp":
        return SMTPTransport(settings)
    if settings.email_backend == "console":
        return ConsoleTransport()
    return FileTransport(settings.outbox_dir)
