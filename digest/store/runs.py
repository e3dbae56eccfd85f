"""Runs (what each did, for `digest status`), what each source's last runs learned of it, and
small facts kept between runs (the subscriber file's fingerprint)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import date
from typing import Any

from sqlalchemy import Connection, insert, select, update

from ..domain.records import RunRecord
from ..domain.source import SourceState
from .rows import now
from .schema import meta, runs, source_states


def running(conn: Connection) -> list[tuple[int, str | None]]:
    """The runs marked running, each with its worker."""
    return [
        (r.id, r.worker)
        for r in conn.execute(select(runs.c.id, runs.c.worker).where(runs.c.status == "running"))
    ]


def mark_interrupted(conn: Connection, ids: Sequence[int]) -> None:
    """These runs ended without finishing (their process is gone)."""
    if ids:
        conn.execute(
            update(runs)
            .where(runs.c.id.in_(list(ids)), runs.c.status == "running")
            .values(status="interrupted", detail="the process ended before the run finished")
        )


def start(conn: Connection, days: Sequence[date], worker: str) -> int:
    """Record a run starting now; its id."""
    result = conn.execute(
        insert(runs).values(
            started_at=now(),
            status="running",
            window_start=min(days),
            window_end=max(days),
            worker=worker,
        )
    )
    return int(result.inserted_primary_key[0])


def finish(conn: Connection, run_id: int, status: str, **counts: Any) -> None:
    conn.execute(
        update(runs).where(runs.c.id == run_id).values(finished_at=now(), status=status, **counts)
    )


_RUN_FIELDS = tuple(f.name for f in dataclasses.fields(RunRecord))


def recent(conn: Connection, limit: int = 10) -> list[RunRecord]:
    rows = conn.execute(select(runs).order_by(runs.c.id.desc()).limit(limit))
    return [RunRecord(*(getattr(r, f) for f in _RUN_FIELDS)) for r in rows]


# --- source state --------------------------------------------------------------------------

_STATE_FIELDS = tuple(f.name for f in dataclasses.fields(SourceState) if f.name != "name")


def source_state(conn: Connection, name: str) -> SourceState:
    """What earlier runs learned of the source `name` (nothing, the first time)."""
    row = conn.execute(select(source_states).where(source_states.c.name == name)).first()
    if row is None:
        return SourceState(name)
    return SourceState(name, **{f: getattr(row, f) for f in _STATE_FIELDS})


def save_source_state(conn: Connection, state: SourceState) -> None:
    values = {f: getattr(state, f) for f in _STATE_FIELDS}
    if not conn.execute(
        update(source_states).where(source_states.c.name == state.name).values(**values)
    ).rowcount:
        conn.execute(insert(source_states).values(name=state.name, **values))


# --- small facts ---------------------------------------------------------------------------


def get_meta(conn: Connection, key: str) -> str | None:
    return conn.execute(select(meta.c.value).where(meta.c.key == key)).scalar_one_or_none()


def set_meta(conn: Connection, key: str, value: str) -> None:
    if not conn.execute(update(meta).where(meta.c.key == key).values(value=value)).rowcount:
        conn.execute(insert(meta).values(key=key, value=value))
