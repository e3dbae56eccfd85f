"""A run's first step: every source asked for the window; what they listed stored under one
key per paper and merged with what the store holds (`sources.merge`); what each source learned
of itself kept beside it. One transaction, which the caller keeps or rolls back."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, date, datetime

from .. import store
from ..domain.paper import Paper, normalize_title
from ..domain.source import SourceState
from ..errors import SourceError
from ..progress import Reporter
from ..settings import Settings
from ..sources.base import Fetched, Source
from ..sources.freshness import stale
from ..sources.merge import merge, resolve_keys
from ..sources.registry import make_sources
from ..store import Database, Tx
from .result import RunResult


def fetch_all(
    sources: Sequence[Source],
    days: Sequence[date],
    known: Mapping[str, SourceState],
    result: RunResult,
    reporter: Reporter,
) -> tuple[dict[str, Fetched], list[SourceState]]:
    """Each source's answer for the window, and the state of those that failed (a failed
    source contributes nothing, not part of its listing)."""
    fetched: dict[str, Fetched] = {}
    failed: list[SourceState] = []
    with reporter.steps("fetching listings", len(sources)) as advance:
        for source in sources:
            state = known.get(source.name) or SourceState(source.name)
            try:
                got = source.fetch_window(days, state)
            except SourceError as exc:
                result.source_failures.append(str(exc))
                reporter.error(str(exc))
                failed.append(state.failed(str(exc), datetime.now(UTC)))
                continue  # not counted: "fetching listings: 0/1" after a failure
            advance()
            for note in got.notes:
                reporter.info(note)
            fetched[source.name] = got
            result.fetched += len(got.papers)
    return fetched, failed


def store_papers(conn: Tx, fetched: Sequence[Paper], source: str) -> tuple[list[Paper], int]:
    """Store papers and the days `source` listed them: each under the key it is already
    stored under, a stored one merged with the new listing. Returns the papers under their
    stored keys, and how many were new to the store."""
    resolved = resolve_keys(
        fetched,
        store.papers.keys_known(conn, (p.key for p in fetched)),
        store.papers.keys_by_title(conn, (normalize_title(p.title) for p in fetched)),
    )
    before = store.papers.stored(conn, [p.key for p in resolved])
    new: list[Paper] = []
    for paper in resolved:
        old = before.get(paper.key)
        if old is None:
            new.append(paper)
        else:
            store.papers.replace(conn, old, merge(old, paper))
    store.papers.add(conn, new)
    store.papers.list_on(conn, source, resolved)
    return resolved, len(new)


def check_freshness(
    states: Sequence[SourceState], today: date, result: RunResult, reporter: Reporter
) -> None:
    for state in states:
        why = stale(state, today)
        if why:
            result.stale.append((state.name, why))
            reporter.warn(f"{state.name} looks stale: {why}")


@contextmanager
def collected(
    db: Database,
    settings: Settings,
    days: Sequence[date],
    result: RunResult,
    reporter: Reporter,
    *,
    keep: bool,
    sources: Sequence[Source] | None = None,
) -> Iterator[tuple[Tx, list[Paper]]]:
    """Fetch, store, and yield every paper listed in the window, inside one transaction that
    is committed only when `keep` (dry runs, previews and rankings roll it back). What the
    sources learned (validators, build dates) is stored in the same transaction, so a rolled
    back fetch is fetched again in full."""
    own = sources is None
    sources = make_sources(settings.sources) if sources is None else sources
    with db.reading() as conn:
        known = {s.name: store.runs.source_state(conn, s.name) for s in sources}
    try:
        fetched, failed = fetch_all(sources, days, known, result, reporter)
    finally:
        if own:
            for s in sources:
                s.close()
    with db.transaction(keep=keep) as conn:
        for name, got in fetched.items():
            _, new = store_papers(conn, got.papers, name)
            result.new += new
            store.runs.save_source_state(conn, got.state)
        for state in failed:
            store.runs.save_source_state(conn, state)
        states = [got.state for got in fetched.values()]
        check_freshness(states, settings.schedule.today(), result, reporter)
        yield conn, store.papers.listed(conn, days)
