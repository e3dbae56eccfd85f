"""The SMTP relay as a transport: one connection reused for a number of messages, and every
answer sorted into accepted, refused for now, refused for good, or stop."""

from __future__ import annotations

import contextlib
import re
import smtplib
import ssl
from typing import Self

from ..domain.digest import Outgoing
from ..errors import DeliveryError, Refused
from ..settings import SMTPSettings

# Enhanced status codes (RFC 3463) that blame the address: 5.1.x addressing, 5.2.x mailbox.
_ADDRESS_FAULT = re.compile(r"^\s*5\.[12]\.\d+")


def _reason(raw: bytes | str) -> str:
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
    return " ".join(text.split())


def dot_stuffed(data: bytes) -> bytes:
    """A message body as DATA carries it: a period that begins a line doubled (RFC 5321
    4.5.2). What smtplib does with a multi-line regular expression, a sixth of the processor
    time of sending a 30 kB message, done with two byte scans."""
    stuffed = data.replace(b"\n.", b"\n..")
    return b"." + stuffed if stuffed.startswith(b".") else stuffed


class _FastData:
    """smtplib's DATA, with the body dot-stuffed by `dot_stuffed`, and the relay's answer to
    its end awaited `data_end_timeout` (every other command waits SMTP_TIMEOUT). A relay that
    answers late has usually queued the message: giving up after SMTP_TIMEOUT and sending it
    again made two copies."""

    data_end_timeout: float = 0.0

    def data(self, msg: bytes | str) -> tuple[int, bytes]:
        if not isinstance(msg, bytes):
            return super().data(msg)  # type: ignore[misc]
        conn: smtplib.SMTP = self  # type: ignore[assignment]
        conn.putcmd("data")
        code, repl = conn.getreply()
        if code != 354:
            raise smtplib.SMTPDataError(code, repl)
        q = dot_stuffed(msg)
        if q[-2:] != b"\r\n":
            q += b"\r\n"
        conn.send(q + b".\r\n")
        if conn.sock is not None:
            conn.sock.settimeout(max(self.data_end_timeout, conn.timeout))
        try:
            return conn.getreply()
        finally:
            if conn.sock is not None:
                conn.sock.settimeout(conn.timeout)


class _SMTP(_FastData, smtplib.SMTP):
    pass


class _SMTP_SSL(_FastData, smtplib.SMTP_SSL):
    pass


class SMTPTransport:
    """One connection reused for every message; a lost connection is reopened on the next
    send. Answers are sorted into delivered, refused for now, refused for good, or stop."""

    name = "smtp"

    def __init__(self, smtp: SMTPSettings, sender: str, *, patient: bool = True) -> None:
        """`patient`: wait SMTP_DATA_TIMEOUT for the answer to a message's end (a run); else
        SMTP_TIMEOUT (a person waiting at a web form)."""
        assert smtp.host
        self.data_end_timeout = smtp.data_timeout if patient else smtp.timeout
        self.lanes = smtp.max_connections
        self.per_connection = smtp.messages_per_connection
        self.used = 0  # transactions on the current connection
        self.host = smtp.host
        self.port = smtp.port
        self.security = smtp.security
        self.username = smtp.username
        self.password = smtp.password
        self.timeout = smtp.timeout
        self.sender = sender
        self.conn: smtplib.SMTP | None = None
        self._tls: ssl.SSLContext | None = None

    def describe(self) -> str:
        return f"smtp://{self.host}:{self.port} ({self.security})"

    def tls(self) -> ssl.SSLContext | None:
        """The TLS context, made once: loading the system's certificates takes 20 ms, and a
        transport reconnects every SMTP_MESSAGES_PER_CONNECTION messages."""
        if self.security == "none":
            return None
        if self._tls is None:
            self._tls = ssl.create_default_context()
        return self._tls

    def _connect(self) -> smtplib.SMTP:
        where = f"SMTP relay {self.host}:{self.port}"
        context = self.tls()
        conn: smtplib.SMTP | None = None
        try:
            if self.security == "ssl":
                conn = _SMTP_SSL(self.host, self.port, timeout=self.timeout, context=context)
            else:
                conn = _SMTP(self.host, self.port, timeout=self.timeout)
            conn.data_end_timeout = self.data_end_timeout  # type: ignore[attr-defined]
            conn.ehlo()
            if self.security == "starttls":
                if not conn.has_extn("starttls"):
                    raise DeliveryError(
                        f"{where} does not offer STARTTLS (set SMTP_SECURITY=ssl or none)"
                    )
                conn.starttls(context=context)
                conn.ehlo()
            if self.username:
                conn.login(self.username, self.password or "")
            return conn
        except (DeliveryError, smtplib.SMTPException, OSError) as exc:
            _close(conn)
            raise self._cannot_connect(where, exc) from None

    def _cannot_connect(self, where: str, exc: Exception) -> DeliveryError:
        """One line for whatever stopped the connection; never the password."""
        if isinstance(exc, DeliveryError):
            return exc
        if isinstance(exc, smtplib.SMTPAuthenticationError):
            answer = f"{exc.smtp_code} {_reason(exc.smtp_error)}"
            return DeliveryError(f"{where} refused the login for {self.username}: {answer}")
        if isinstance(exc, smtplib.SMTPNotSupportedError):
            return DeliveryError(f"{where}: {exc}")
        if isinstance(exc, ssl.SSLError):
            return DeliveryError(f"{where}: TLS failed: {exc.reason or exc}")
        return DeliveryError(f"cannot reach {where}: {exc or type(exc).__name__}")

    def __enter__(self) -> Self:
        self.conn = self._connect()
        self.used = 0
        return self

    def __exit__(self, *exc: object) -> None:
        if self.conn is not None:
            try:
                self.conn.quit()
            except (smtplib.SMTPException, OSError):
                self.conn.close()
            self.conn = None

    def _lost(self, why: str) -> Refused:
        _close(self.conn)
        self.conn = None
        return Refused(None, f"connection lost: {why}", permanent=False)

    def send(self, out: Outgoing) -> None:
        """Raises Refused for this message, DeliveryError when the relay cannot be reached
        again or refuses the sender (no other message could go either)."""
        if self.conn is not None and self.used >= self.per_connection:
            self.__exit__()  # relays cap messages per connection; a fresh one also rebalances
        if self.conn is None:
            self.conn = self._connect()
            self.used = 0
        rcpt = out.recipient
        options = [] if rcpt.isascii() and self.sender.isascii() else ["SMTPUTF8"]
        self.used += 1
        try:
            self.conn.sendmail(self.sender, [rcpt], out.raw, mail_options=options)
            return
        except smtplib.SMTPRecipientsRefused as exc:
            code, raw = exc.recipients.get(rcpt, (None, b"recipient refused"))
            stage = "RCPT"
        except smtplib.SMTPSenderRefused as exc:
            code, raw, stage = exc.smtp_code, exc.smtp_error, "MAIL"
        except smtplib.SMTPResponseException as exc:
            code, raw, stage = exc.smtp_code, exc.smtp_error, "DATA"
        except (smtplib.SMTPServerDisconnected, OSError) as exc:
            raise self._lost(str(exc) or type(exc).__name__) from None
        except smtplib.SMTPException as exc:
            raise self._lost(f"{type(exc).__name__}: {exc}") from None
        raise self._answer(code, _reason(raw), stage)

    def _answer(self, code: int | None, reason: str, stage: str) -> Exception:
        """What a refusal at `stage` means: 421 is a lost connection; 5xx to MAIL FROM stops
        delivery (our sender is refused, not the subscriber); otherwise Refused, permanent
        for 5xx, blaming the address at RCPT or with a 5.1.x/5.2.x status."""
        if code == 421:
            return self._lost(f"421 {reason}")
        permanent = bool(code and code >= 500)
        if stage == "MAIL" and permanent:
            return DeliveryError(
                f"SMTP relay {self.host}:{self.port} refuses the sender {self.sender}: "
                f"{code} {reason}"
            )
        fault = stage == "RCPT" or bool(_ADDRESS_FAULT.match(reason))
        return Refused(code, reason, permanent, address_fault=fault)


def _close(conn: smtplib.SMTP | None) -> None:
    if conn is not None:
        with contextlib.suppress(OSError):
            conn.close()
