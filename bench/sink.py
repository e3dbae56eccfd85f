"""An SMTP sink that accepts and discards, and counts: messages per recipient, connections open
at once. Run as its own process so it does not share the measured process's interpreter:

    python bench/sink.py [LATENCY_MS]   prints "port N", then answers "stats" and "reset"

With LATENCY_MS, it waits that long before answering each DATA, as a real relay does while it
writes the message to its queue.
"""

from __future__ import annotations

import asyncio
import json
import socket
import sys
import threading
import time
from collections import Counter
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP


class Tally:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        self.recipients: Counter[str] = Counter()
        self.bytes = 0
        self.open = 0
        self.most_open = 0
        self.connections = 0
        self.first = self.last = 0.0

    def stats(self) -> dict[str, Any]:
        return {
            "accepted": sum(self.recipients.values()),
            "recipients": len(self.recipients),
            "duplicates": sum(n - 1 for n in self.recipients.values() if n > 1),
            "bytes": self.bytes,
            "most_open": self.most_open,
            "connections": self.connections,
            "seconds": self.last - self.first,
        }


TALLY = Tally()


class Discard:
    latency = 0.0  # seconds before answering DATA

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.latency:
            await asyncio.sleep(self.latency)
        now = time.monotonic()
        with TALLY.lock:
            TALLY.recipients.update(envelope.rcpt_tos)
            TALLY.bytes += len(envelope.original_content or b"")
            TALLY.first = TALLY.first or now
            TALLY.last = now
        return "250 2.0.0 OK: discarded"


class CountingSMTP(SMTP):
    def connection_made(self, transport: Any) -> None:
        with TALLY.lock:
            TALLY.open += 1
            TALLY.connections += 1
            TALLY.most_open = max(TALLY.most_open, TALLY.open)
        super().connection_made(transport)

    def connection_lost(self, exc: Exception | None) -> None:
        with TALLY.lock:
            TALLY.open -= 1
        super().connection_lost(exc)


class Sink(Controller):
    def factory(self) -> SMTP:
        return CountingSMTP(self.handler, **self.SMTP_kwargs)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> None:
    port = free_port()
    handler = Discard()
    handler.latency = float(sys.argv[1]) / 1000 if len(sys.argv) > 1 else 0.0
    sink = Sink(handler, hostname="127.0.0.1", port=port, data_size_limit=None)
    sink.start()
    print(f"port {port}", flush=True)
    for line in sys.stdin:
        command = line.strip()
        if command == "stats":
            with TALLY.lock:
                print(json.dumps(TALLY.stats()), flush=True)
        elif command == "reset":
            with TALLY.lock:
                TALLY.reset()
            print("{}", flush=True)
    sink.stop()


if __name__ == "__main__":
    main()
