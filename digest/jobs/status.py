"""What an operator checks, as typed rows for `digest status` to show: the last runs, each
source and whether it is ok, failing or stale, the outbox's pending and failed messages, the
suppressed addresses, and who holds the run lock now."""

from __future__ import annotations

from dataclasses import dataclass

from .. import store
from ..domain.digest import FAILED, PENDING
from ..domain.records import MessageRecord, RunRecord, Suppression
from ..domain.source import SourceState
from ..settings import Settings
from ..sources.freshness import stale
from ..store import Tx
from ..store.lock import gone, holder
from .wiring import opened


@dataclass(frozen=True)
class RunRow:
    record: RunRecord
    state: str  # the record's status, or "died": 'running' with nobody holding the lock

    @property
    def healthy(self) -> bool:
        return self.state in ("ok", "running")


@dataclass(frozen=True)
class SourceRow:
    state: SourceState
    health: str  # "never fetched", "ok", "failing: ...", "STALE: ..."

    @property
    def healthy(self) -> bool:
        return self.health == "ok"


@dataclass(frozen=True)
class Messages:
    total: int
    latest: list[MessageRecord]


@dataclass(frozen=True)
class Status:
    runs: list[RunRow]
    problems: list[str]  # the latest run's problems, a line each
    running: str | None  # who holds the run lock now ("run by pid N since T")
    sources: list[SourceRow]
    pending: Messages
    failed: Messages
    suppressed: list[Suppression]
    warnings: list[str]  # settings that silently stop someone's mail


def health(state: SourceState, why_stale: str | None) -> str:
    if state.checked_at is None and state.failed_at is None:
        return "never fetched"
    if why_stale:
        return f"STALE: {why_stale}"
    if state.failing:
        return f"failing: {state.last_error}"
    return "ok"


def status(settings: Settings, *, runs: int = 10) -> Status:
    """Read-only."""
    today = settings.schedule.today()
    with opened(settings, look_only=True) as db:
        with db.reading() as conn:
            records = store.runs.recent(conn, runs)
            sources = [store.runs.source_state(conn, name) for name in settings.sources.names]
            pending = Messages(
                store.outbox.count(conn, PENDING), store.outbox.latest(conn, PENDING)
            )
            failed = Messages(store.outbox.count(conn, FAILED), store.outbox.latest(conn, FAILED))
            suppressed = store.suppressions.suppressions_now(conn)
            warnings = _silenced(settings, conn)
        running = holder(db)
        dead = gone(db, {r.worker for r in records if r.status == "running" and r.worker})
    return Status(
        runs=[RunRow(r, _state(r, dead)) for r in records],
        problems=(records[0].detail or "").splitlines() if records else [],
        running=running,
        sources=[SourceRow(s, health(s, stale(s, today))) for s in sources],
        pending=pending,
        failed=failed,
        suppressed=suppressed,
        warnings=warnings,
    )


def _silenced(settings: Settings, conn: Tx) -> list[str]:
    """Subscribers whose mail stops without a word: they keep to arXiv categories, and no
    arXiv listing is read (only arXiv says which categories a paper is in)."""
    if "arxiv" in settings.sources.names:
        return []
    kept = store.subscribers.keeping_to_categories(conn)
    if not kept:
        return []
    example = ", ".join(kept[:3]) + (", ..." if len(kept) > 3 else "")
    return [
        f"{len(kept)} subscriber(s) keep to arXiv categories ({example}) but DIGEST_SOURCES "
        "reads no arXiv listing: they get nothing until arxiv is added or their categories "
        "are removed"
    ]


def _state(run: RunRecord, dead: set[str]) -> str:
    """A run's status, or "died" for one marked running whose process is gone (the next
    run marks it interrupted)."""
    if run.status == "running" and (run.worker is None or run.worker in dead):
        return "died"
    return run.status
