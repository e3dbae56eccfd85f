"""HTTP for sources: one client, retries for what may pass (timeouts, 429, 5xx) honouring
Retry-After, optional pacing, and every failure a SourceError naming the source and URL."""

from __future__ import annotations

import random
import re
from collections.abc import Mapping
from datetime import datetime
from email.utils import parsedate_to_datetime

import httpx
from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt

from .. import __version__
from ..domain.text import one_line
from ..errors import SourceError, TransientFetchError
from ..pace import Pace


def retry_after(resp: httpx.Response) -> float | None:
    """Seconds the server asked us to wait: Retry-After (seconds or date), else RateLimit's t=."""
    raw = resp.headers.get("retry-after")
    if raw:
        raw = raw.strip()
        if raw.isdigit():
            return float(raw)
        try:
            when = parsedate_to_datetime(raw)
            return max(0.0, (when - datetime.now(when.tzinfo)).total_seconds())
        except (TypeError, ValueError):
            pass
    m = re.search(r"\bt=(\d+)", resp.headers.get("ratelimit", ""))
    return float(m.group(1)) if m else None


class Fetcher:
    """GETs for one source. An answer under 400 (200, 304) is returned; 429 and 5xx are retried
    with exponential backoff and jitter, or as long as the server asked; other errors are
    SourceErrors at once. With `pace`, every attempt waits for its slot."""

    def __init__(
        self,
        source: str,
        *,
        accept: str,
        timeout: float = 20.0,
        attempts: int = 4,
        backoff: float = 1.0,
        max_wait: float = 60.0,
        pace: Pace | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.source = source
        self.timeout = timeout
        self.attempts = attempts
        self.backoff = backoff
        self.max_wait = max_wait
        self.pace = pace
        self.client = httpx.Client(
            timeout=timeout,
            transport=transport,
            headers={"User-Agent": f"paper-digest/{__version__}", "Accept": accept},
            follow_redirects=True,
        )

    def close(self) -> None:
        self.client.close()

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, TransientFetchError) and exc.retry_after is not None:
            return min(exc.retry_after, self.max_wait)
        base = self.backoff * 2 ** (state.attempt_number - 1)
        return min(base * (0.5 + random.random()), self.max_wait)

    def get(self, url: httpx.URL | str, headers: Mapping[str, str] | None = None) -> httpx.Response:
        def once() -> httpx.Response:
            if self.pace is not None:
                self.pace.wait()
            try:
                resp = self.client.get(url, headers=headers)
            except httpx.TimeoutException:
                raise TransientFetchError(f"timed out after {self.timeout:g}s") from None
            except httpx.TransportError as exc:
                raise TransientFetchError(
                    f"connection failed: {exc or type(exc).__name__}"
                ) from None
            if resp.status_code == 429 or resp.status_code >= 500:
                raise TransientFetchError(f"HTTP {resp.status_code}", retry_after(resp))
            if resp.status_code >= 400:
                snippet = one_line(resp.text)[:200]
                raise SourceError(self.source, str(url), f"HTTP {resp.status_code}: {snippet}")
            return resp

        retrying = Retrying(
            stop=stop_after_attempt(self.attempts),
            wait=self._wait,
            retry=retry_if_exception_type(TransientFetchError),
            reraise=True,
        )
        try:
            return retrying(once)
        except TransientFetchError as exc:
            raise SourceError(
                self.source, str(url), f"{exc} (gave up after {self.attempts} attempts)"
            ) from None
