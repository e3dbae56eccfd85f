"""A look without consequences: how a subscriber's profile ranks a day's listing, the email
they would get now, and a fetch that stores listings and mails nothing."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import date
from pathlib import Path

from .. import store
from ..compose.render import Composed
from ..deliver.files import FileTransport
from ..domain.digest import Ranked
from ..domain.paper import Paper
from ..domain.subscriber import Subscriber
from ..progress import Reporter, Silent
from ..rank.profile import compile_profile
from ..rank.select import rank
from ..rank.trending import trending
from ..settings import Settings
from ..sources.base import Source
from ..store import Tx
from ..store.lock import run_lock
from .collect import collected
from .decide import decide, listing_for, tastes_of
from .embed import embed_rated, understood
from .plan import week_of, window
from .result import RunResult
from .roster import require, sync_file
from .wiring import composer_for, opened


def find_subscriber(settings: Settings, email: str) -> Subscriber:
    """The subscriber as the next run would see them (the file imported, then undone)."""
    with opened(settings, look_only=True) as db, db.transaction(keep=False) as conn:
        sync_file(conn, settings.subscribers)
        return require(conn, email).subscriber


@contextmanager
def snapshot(
    settings: Settings,
    day: date | None,
    *,
    keep: bool = False,
    reporter: Reporter | None = None,
    sources: Sequence[Source] | None = None,
) -> Iterator[tuple[RunResult, Tx, list[Paper]]]:
    """The window's listing as the store would hold it after a fetch; kept only if `keep`."""
    days = window(settings.schedule, day)
    result = RunResult(days=days, dry_run=not keep)
    with (
        opened(settings, look_only=not keep) as db,
        collected(db, settings, days, result, reporter or Silent(), keep=keep, sources=sources) as (
            conn,
            candidates,
        ),
    ):
        yield result, conn, candidates


def rank_for(
    settings: Settings,
    email: str,
    day: date | None = None,
    *,
    reporter: Reporter | None = None,
    sources: Sequence[Source] | None = None,
) -> tuple[RunResult, list[Ranked], list[Ranked]]:
    """How `email`'s profile ranks the window's listing, ignoring what was already sent; and
    the trending section a digest of its top `max_papers` would carry. Changes no state."""
    sub = find_subscriber(settings, email)
    profile = compile_profile(sub)
    with snapshot(settings, day, reporter=reporter, sources=sources) as (result, conn, candidates):
        listing, rarity = listing_for(conn, candidates)
        if settings.semantic:
            listing = understood(conn, listing, compute=True)
            embed_rated(conn)
        taste = tastes_of(conn, [sub], semantic=settings.semantic).get(sub.email)
        skip = taste.keys if taste else frozenset()  # what a digest never sends again
        ranked = rank(profile, listing, rarity, skip, taste=taste)
        picked = {*skip, *(r.paper.key for r in ranked[: sub.max_papers])}
        hot = trending(profile, listing, rarity, sub.trending, picked)
    return result, ranked, hot


def preview(
    settings: Settings,
    email: str,
    day: date | None = None,
    *,
    reporter: Reporter | None = None,
    sources: Sequence[Source] | None = None,
) -> tuple[RunResult, Composed | None]:
    """The message `email` would get from a run now, composed but neither sent nor recorded."""
    sub = find_subscriber(settings, email)
    domain = settings.mail.domain
    with snapshot(settings, day, reporter=reporter, sources=sources) as (result, conn, candidates):
        today = result.days[-1]
        since = week_of(today)[0] if sub.frequency == "weekly" else None
        if since is not None:
            candidates = store.papers.listed(conn, week_of(today))
        start = min(result.days[0], since or result.days[0])
        listing, rarity = listing_for(conn, candidates)
        if settings.semantic:
            listing = understood(conn, listing, compute=True)
            embed_rated(conn)
        digests = decide(conn, [sub], listing, rarity, today, domain, start=start, since=since)
    result.mailed = len(digests)
    return result, (composer_for(settings).compose(digests[0]) if digests else None)


def write_preview(composed: Composed, out: Path | None = None) -> Path:
    """The preview as an HTML file and an .eml beside it (by default under previews/, named as
    the outbox folder names them); the HTML file's path."""
    if out is None:
        d = composed.digest
        eml, _ = FileTransport(Path("previews")).paths(d.subscriber.email, d.day, d.message_id)
        out = eml.with_suffix(".html")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(composed.html, encoding="utf-8")
    out.with_suffix(".eml").write_bytes(composed.raw)
    return out


def fetch(
    settings: Settings,
    day: date | None = None,
    *,
    reporter: Reporter | None = None,
    sources: Sequence[Source] | None = None,
) -> RunResult:
    """Fetch and store only (holding the run lock, as it writes)."""
    days = window(settings.schedule, day)
    result = RunResult(days=days, dry_run=False)
    with (
        opened(settings) as db,
        run_lock(db, "fetch"),
        collected(db, settings, days, result, reporter or Silent(), keep=True, sources=sources),
    ):
        return result
