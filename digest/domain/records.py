"""What the store keeps of past runs, of messages, and of addresses refused for good, as an
operator reads them (`digest status`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime


@dataclass(frozen=True, slots=True)
class RunRecord:
    id: int
    started_at: datetime
    finished_at: datetime | None
    status: str  # running, ok, failed, interrupted
    window_start: date
    window_end: date
    fetched: int | None
    new: int | None
    mailed: int | None
    sent: int | None
    failed: int | None
    seconds: float | None
    detail: str | None  # the run's problems, a line each
    worker: str | None = None  # the process that ran it


@dataclass(frozen=True, slots=True)
class MessageRecord:
    """A message as `digest status` lists it."""

    message_id: str
    recipient: str
    day: date
    attempts: int
    detail: str | None  # the relay's last answer
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Suppression:
    """An address with permanent refusals since its last accepted message."""

    email: str
    failures: int
    last_answer: str | None
    first_failed_at: datetime
    suppressed_at: datetime | None
