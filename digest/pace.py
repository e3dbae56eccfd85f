"""Spacing calls over time, shared by the threads that make them."""

from __future__ import annotations

import threading
import time
from collections import deque


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


class Window:
    """At most `capacity` calls end within any `seconds`-long window: a call may start only
    while fewer than `capacity` are under way or ended less than `seconds` ago. A relay
    counts a message when it accepts it, which is after the call starts and before the call
    sees the answer, so it too never counts more than `capacity` in any such window, however
    long each call takes. No limit when capacity is 0."""

    def __init__(self, capacity: int, seconds: float = 1.0) -> None:
        self.capacity = capacity
        self.seconds = seconds
        self.running = 0
        self.ended: deque[float] = deque()
        self.cond = threading.Condition()

    @classmethod
    def per_second(cls, rate: float) -> Window:
        """SMTP_RATE_LIMIT as a window: `rate` (rounded down) a second, or one every 1/rate
        seconds below one a second."""
        if not rate:
            return cls(0)
        return cls(int(rate), 1.0) if rate >= 1 else cls(1, 1.0 / rate)

    def enter(self, stop: threading.Event | None = None) -> bool:
        """Wait for room; False if `stop` was set meanwhile (then nothing was entered)."""
        if not self.capacity:
            return True
        with self.cond:
            while True:
                now = time.monotonic()
                while self.ended and self.ended[0] <= now - self.seconds:
                    self.ended.popleft()
                if self.running + len(self.ended) < self.capacity:
                    self.running += 1
                    return True
                if stop is not None and stop.is_set():
                    return False
                wait = self.ended[0] + self.seconds - now if self.ended else self.seconds
                self.cond.wait(min(max(wait, 0.001), 0.2))

    def leave(self) -> None:
        """The call ended (whatever the answer): it counts for `seconds` from now."""
        if not self.capacity:
            return
        with self.cond:
            self.running -= 1
            self.ended.append(time.monotonic())
            self.cond.notify_all()
