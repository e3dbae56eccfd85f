"""Deliver what the outbox holds: every pending message until the relay accepts it or refuses
it for good. Transient answers are retried in later passes, spaced by exponential backoff;
what is still refused after the last pass stays pending for the next run."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from sqlalchemy import Engine

from . import store
from .config import Settings
from .deliver import DeliveryError, Refused, Transport
from .progress import Reporter
from .report import RunReport

MAX_BACKOFF = 300.0


def backoff(settings: Settings, attempt: int) -> float:
    """Seconds to wait before retry pass `attempt` (1-based)."""
    return min(settings.smtp_retry_delay * 2 ** (attempt - 1), MAX_BACKOFF)


def deliver(
    engine: Engine,
    transport: Transport,
    settings: Settings,
    report: RunReport,
    reporter: Reporter,
    *,
    sleep: Callable[[float], None] = time.sleep,
    stop: threading.Event | None = None,
) -> None:
    """Send every pending message, marking each the moment the relay answered for it.

    A message is marked sent only after the transport accepted it, in its own transaction:
    a process killed between two messages leaves an exact record. The one window no SMTP
    client can close (accepted, then killed before that commit) resends a copy with the same
    Message-ID on the next run. When `stop` is set (the daemon got SIGTERM), the message being
    sent is finished and the rest stays pending.
    """
    with engine.connect() as conn:
        queue = store.pending(conn)
    if not queue:
        return
    total = len(queue)
    try:
        transport.__enter__()
    except DeliveryError as exc:
        report.delivery_error = str(exc)
        report.deferred += total
        reporter.error(f"{exc}; {total} message(s) left pending")
        return
    try:
        with reporter.steps("sending", total) as advance:
            for attempt in range(settings.smtp_retries + 1):
                if stop is not None and stop.is_set():
                    break
                if attempt:
                    wait = backoff(settings, attempt)
                    reporter.info(
                        f"retrying {len(queue)} message(s) in {wait:g}s "
                        f"(pass {attempt + 1} of {settings.smtp_retries + 1})"
                    )
                    if stop is not None:
                        stop.wait(wait)
                        if stop.is_set():
                            break
                    else:
                        sleep(wait)
                queue, stopped = _pass(
                    engine, transport, settings, queue, report, reporter, advance, stop
                )
                if not queue:
                    break
                if stopped and attempt == settings.smtp_retries:
                    report.delivery_error = stopped
                    reporter.error(f"{stopped}; giving up for this run")
    finally:
        transport.__exit__(None, None, None)
    report.deferred += len(queue)
    if stop is not None and stop.is_set() and queue:
        report.stopped = True
        reporter.info(f"stopped on request: {len(queue)} message(s) left pending for the next run")
        return
    for message_id, email in queue:
        reporter.warn(f"{email}: still refused, left pending for the next run ({message_id})")


def _pass(
    engine: Engine,
    transport: Transport,
    settings: Settings,
    queue: list[tuple[str, str]],
    report: RunReport,
    reporter: Reporter,
    advance: Callable[[], None],
    stop: threading.Event | None = None,
) -> tuple[list[tuple[str, str]], str | None]:
    """One pass over the queue; returns what to retry, and why the pass stopped early if the
    relay became unreachable (the rest of the queue is retried then, untouched)."""
    retry: list[tuple[str, str]] = []
    for i, (message_id, email) in enumerate(queue):
        if stop is not None and stop.is_set():
            return retry + queue[i:], None
        with engine.connect() as conn:
            out = store.outgoing(conn, message_id)
        if out is None:  # delivered or cancelled meanwhile
            continue
        try:
            transport.send(out)
        except DeliveryError as exc:
            reporter.warn(str(exc))
            return retry + queue[i:], str(exc)
        except Refused as exc:
            answer = str(exc)
            if exc.permanent:
                with engine.begin() as conn:
                    now_suppressed = store.mark_failed(
                        conn,
                        message_id,
                        email,
                        answer,
                        settings.suppress_after if exc.address_fault else None,
                    )
                report.failed += 1
                report.refusals.append(f"{email}: refused for good: {answer}")
                reporter.warn(f"{email}: refused for good: {answer} ({message_id})")
                if now_suppressed:
                    reporter.warn(
                        f"{email}: suppressed after repeated permanent refusals; "
                        f"`digest subscribers enable {email}` re-enables it"
                    )
                advance()
            else:
                with engine.begin() as conn:
                    store.mark_deferred(conn, message_id, answer)
                reporter.warn(f"{email}: refused for now: {answer}")
                retry.append((message_id, email))
            continue
        with engine.begin() as conn:
            store.mark_sent(conn, message_id, email)
        report.sent += 1
        advance()
    return retry, None
