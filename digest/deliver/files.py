"""Transports for a look rather than for delivery: an outbox folder of `.eml` and `.html`
files, and the console."""

from __future__ import annotations

import hashlib
import os
import re
import sys
from datetime import date
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import IO, Self

from ..domain.digest import Outgoing
from ..errors import DeliveryError

_UNSAFE = re.compile(r"[^A-Za-z0-9._@+-]+")


class FileTransport:
    """An `.eml` and an `.html` per message under outbox/DAY/, written atomically."""

    name = "file"
    lanes = 1

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

    def paths(self, recipient: str, day: date, message_id: str) -> tuple[Path, Path]:
        tag = hashlib.sha256(message_id.encode()).hexdigest()[:8]
        stem = f"{_UNSAFE.sub('_', recipient)[:120]}.{tag}"  # a name fits any file system
        folder = self.outbox / day.isoformat()
        return folder / f"{stem}.eml", folder / f"{stem}.html"

    def send(self, out: Outgoing) -> None:
        eml, html = self.paths(out.recipient, out.day, out.message_id)
        body = parse(out.raw).get_body(("html",))
        try:
            eml.parent.mkdir(parents=True, exist_ok=True)
            if body is not None:
                _write_atomic(html, body.get_content().encode("utf-8"))
            _write_atomic(eml, out.raw)
        except OSError as exc:
            raise DeliveryError(f"cannot write to outbox {eml.parent}: {exc.strerror}") from None


def parse(raw: bytes) -> EmailMessage:
    return BytesParser(policy=policy.default).parsebytes(raw)  # type: ignore[return-value]


def _write_atomic(path: Path, data: bytes) -> None:
    """Whole or not at all: a full disk leaves neither a partial file nor its temporary."""
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError:
        tmp.unlink(missing_ok=True)
        raise


class ConsoleTransport:
    """The message as it would go over the wire, on stdout: for a look, not for delivery."""

    name = "console"
    lanes = 1

    def __init__(self, stream: IO[str] | None = None) -> None:
        self.stream = stream or sys.stdout

    def describe(self) -> str:
        return "the console"

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def send(self, out: Outgoing) -> None:
        msg = parse(out.raw)
        text = msg.get_body(("plain",))
        self.stream.write("\n".join(f"{k}: {v}" for k, v in msg.items()))
        self.stream.write("\n\n" + (text.get_content() if text else "") + "\n" + "-" * 72 + "\n")
        self.stream.flush()
