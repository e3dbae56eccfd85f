"""The papers readers name in their profiles (`papers`, by arXiv id) that no listing brought:
noted when a profile names them, looked up on arXiv once by the next run (or at once by
`digest subscribers add`), stored as papers, and reported when arXiv has none."""

from __future__ import annotations

from collections.abc import Sequence

from .. import store
from ..domain.paper import Paper
from ..errors import ConfigError, SourceError
from ..progress import Reporter
from ..settings import Settings
from ..sources.lookup import ArxivLookup
from ..store import Database, Tx, now

PER_RUN = 500  # ids a run looks up at most; the rest wait for the next


def resolve(db: Database, settings: Settings, reporter: Reporter) -> None:
    """Look up the named papers still unknown: those the store has by now are settled at
    once, the rest asked of arXiv. An unreachable arXiv leaves them for the next run."""
    with db.writing() as conn:
        ids = store.seeds.wanted(conn, PER_RUN)
        held = store.seeds.by_arxiv_id(conn, ids)
        store.seeds.settle(conn, list(held), [], now())
    asked = [i for i in ids if i not in held]
    if not asked:
        return
    try:
        with ArxivLookup(settings.sources.arxiv_api_url) as lookup:
            found, lacking = lookup.papers(asked)
    except SourceError as exc:
        reporter.warn(f"papers named in profiles: {exc}; looked up again by the next run")
        return
    with db.writing() as conn:
        keep(conn, found, lacking)
    reporter.info(f"papers named in profiles: {len(found)} found on arXiv")
    for i in lacking:
        reporter.warn(f"papers named in profiles: arXiv has no paper {i}")


def keep(conn: Tx, found: Sequence[Paper], lacking: Sequence[str]) -> None:
    """Store the papers arXiv had (those not stored meanwhile), and settle what was asked."""
    known = store.papers.keys_known(conn, [p.key for p in found])
    store.papers.add(conn, [p for p in found if p.key not in known])
    store.seeds.settle(conn, [p.arxiv_id for p in found], lacking, now())


def look_up(db: Database, settings: Settings, ids: Sequence[str]) -> tuple[list[Paper], str | None]:
    """For `digest subscribers add`: the named papers the store lacks, asked of arXiv now,
    nothing stored. Returns the papers found and a line to print when arXiv could not be
    asked (the next run looks them up); ConfigError naming those arXiv does not have."""
    if not ids:
        return [], None
    with db.reading() as conn:
        held = store.seeds.by_arxiv_id(conn, ids)
        lacking = store.seeds.missing(conn, ids)
    asked = [i for i in ids if i not in held and i not in lacking]
    found: list[Paper] = []
    note = None
    if asked:
        try:
            with ArxivLookup(settings.sources.arxiv_api_url) as lookup:
                found, absent = lookup.papers(asked)
            lacking += absent
        except SourceError as exc:
            note = f"could not look up {', '.join(asked)} now ({exc}); the next run will"
    if lacking:
        raise ConfigError(f"arXiv has no paper {', '.join(sorted(lacking))}")
    return found, note
