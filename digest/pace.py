"""Spacing calls over time, shared by the threads that make them."""

from __future__ import annotations

import threading
import time


class Pace:
    """Starts spaced `interval` seconds apart over every caller, so no window of that length
    holds two of them: messages to a relay with a rate limit, requests to arXiv (one every
    three seconds, its terms of use). No spacing when interval is 0."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self.next = 0.0
        self.lock = threading.Lock()

    @classmethod
    def per_second(cls, rate: float) -> Pace:
        return cls(1.0 / rate if rate else 0.0)

    def wait(self, stop: threading.Event | None = None) -> bool:
        """Wait for this call's slot; False if `stop` was set meanwhile."""
        if not self.interval:
            return True
        with self.lock:
            slot = max(time.monotonic(), self.next)
            self.next = slot + self.interval
        delay = slot - time.monotonic()
        if delay <= 0:
            return True
        if stop is None:
            time.sleep(delay)
            return True
        return not stop.wait(delay)
