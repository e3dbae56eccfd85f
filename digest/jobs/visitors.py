"""What a subscriber does on the web pages, each in its own transaction under the rules
(`subscriptions.rules`): ask to subscribe, confirm, change preferences, unsubscribe, undo.
Nothing here activates an address that did not confirm, and nothing undoes an unsubscribe
but the subscriber."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from jinja2 import Environment

from .. import store
from ..compose.notices import compose_notice
from ..deliver.transport import make_transport
from ..domain.digest import Ranked
from ..domain.paper import Paper
from ..domain.subscriber import (
    ACTIVE,
    PENDING_CONFIRMATION,
    UNSUBSCRIBED,
    Subscriber,
    Subscription,
)
from ..rank.index import Listing
from ..rank.profile import compile_profile
from ..rank.select import rank
from ..settings import DatabaseSettings, Settings
from ..store import Database, Tx, now, open_database
from ..store.sent import Sent
from ..subscriptions import rules
from ..subscriptions.links import Links


def send_notice(
    settings: Settings, env: Environment, links: Links, kind: str, sub: Subscriber
) -> None:
    """Compose the notice of `kind` for `sub` (`compose.notices`) and hand it to the transport
    now, as the answer to a person waiting at a form; raises Refused or DeliveryError."""
    today = settings.schedule.today()
    notice = compose_notice(settings.mail.sender, today, env, links, kind, sub)
    with make_transport(settings.mail, patient=False) as transport:
        transport.send(notice)


@dataclass(frozen=True)
class Reread:
    """A digest sent earlier, to be shown again: as sent, what it carried, what it passed
    over."""

    sent: Sent
    papers: list[Ranked]
    passed_over: list[Ranked]
    trending: list[Ranked]


def explained(sub: Subscriber, keys: Sequence[str], found: dict[str, Paper]) -> list[Ranked]:
    """The stored papers of `keys`, in that order, each with the reasons the reader's
    profile gives for it now (none for one it no longer matches)."""
    papers = [found[k] for k in keys if k in found]
    why = {r.paper.key: r for r in rank(compile_profile(sub), Listing(papers))}
    return [why.get(p.key) or Ranked(p, 0.0, ()) for p in papers]


class Visitors:
    """The subscriber's side of the database, as the web pages use it."""

    def __init__(self, db: Database) -> None:
        self.db = db

    @classmethod
    def open(cls, database: DatabaseSettings) -> Visitors:
        return cls(open_database(database.url, migrate=database.auto_migrate))

    def close(self) -> None:
        self.db.dispose()

    def find(self, uid: str) -> Subscription | None:
        """The subscription a signed link names by its random id."""
        with self.db.reading() as conn:
            return store.subscribers.by_uid(conn, uid)

    def request(self, sub: Subscriber) -> tuple[str, Subscription] | None:
        """Someone asked, on the subscribe page, for digests to `sub.email`. Returns what to mail
        them (`rules.notice_to_send`) and to whom, or None when that address was mailed too
        recently. A new address is kept, pending, with the profile asked for; an address the
        store has keeps its own until the link mailed to it, which carries the profile asked
        for, is followed."""

        def work(conn: Tx) -> tuple[str, Subscription] | None:
            stamp = now()
            store.subscribers.purge_unconfirmed(conn, stamp - rules.UNCONFIRMED_KEPT)
            current = store.subscribers.get(conn, sub.email)
            if current is None:
                store.subscribers.add(conn, sub, PENDING_CONFIRMATION, "web")
                current = store.subscribers.get(conn, sub.email)
                assert current is not None
            kind = rules.notice_to_send(current)
            notices = rules.notices_after_one_more(current.notices, stamp)
            if notices is None:
                return None
            store.subscribers.set_notices(conn, sub.email, notices)
            found = store.subscribers.get(conn, sub.email)
            assert found is not None
            return kind, found

        return self.db.retried(work)

    def forget_notice(self, email: str) -> None:
        """The mail could not be sent: do not count it against the address."""

        def work(conn: Tx) -> None:
            current = store.subscribers.get(conn, email)
            if current is not None and current.notices:
                store.subscribers.set_notices(conn, email, current.notices[:-1])

        self.db.retried(work)

    def confirm(
        self, current: Subscription, issued: datetime, profile: Subscriber | None = None
    ) -> bool:
        """Activate a subscription from a confirmation link issued at `issued`, with the
        `profile` the link carries (a link from before they carried one: the stored one)."""
        if not rules.confirms(current, issued):
            return False

        def work(conn: Tx) -> None:
            if profile is not None:
                store.subscribers.set_profile(
                    conn, replace(profile, email=current.email, uid=current.uid)
                )
            store.subscribers.change(
                conn, current.email, status=ACTIVE, paused=False, confirmed_at=now()
            )

        self.db.retried(work)
        return True

    def unsubscribe(self, current: Subscription) -> datetime:
        """Stop all mail at once, pending messages included. Returns the time it took effect
        (what an undo must name)."""
        if current.status == UNSUBSCRIBED and current.unsubscribed_at is not None:
            return current.unsubscribed_at
        stamp = now()

        def work(conn: Tx) -> None:
            store.subscribers.change(
                conn, current.email, status=UNSUBSCRIBED, unsubscribed_at=stamp
            )
            store.outbox.cancel_pending(conn, current.email, "unsubscribed")

        self.db.retried(work)
        return stamp

    def undo_unsubscribe(
        self, current: Subscription, unsubscribed_at: datetime, before: datetime | None = None
    ) -> bool:
        """Undo exactly the unsubscribe that happened at `unsubscribed_at`, nothing older:
        the one `before` it (if any) stays the last, so the reading links it revoked stay
        revoked."""
        if not rules.undoes(current, unsubscribed_at):
            return False
        self.db.retried(
            lambda conn: store.subscribers.change(
                conn, current.email, status=ACTIVE, unsubscribed_at=before
            )
        )
        return True

    def save_preferences(self, current: Subscription, sub: Subscriber, paused: bool) -> None:
        """The subscriber's own preferences. The file entry's hash is left alone, so the next
        import keeps these unless the operator edits that entry."""
        extra = (
            {"weekly_done": now().date()} if rules.starts_weekly(current.subscriber, sub) else {}
        )

        def work(conn: Tx) -> None:
            store.subscribers.set_profile(
                conn, replace(sub, email=current.email), paused=paused, **extra
            )
            store.seeds.want(conn, sub.papers)
            if paused:
                store.outbox.cancel_pending(conn, current.email, "paused")

        self.db.retried(work)

    def paper(self, key: str) -> Paper | None:
        """The stored paper a rating link names."""
        with self.db.reading() as conn:
            return store.papers.stored(conn, [key]).get(key)

    def rate(self, current: Subscription, key: str, verdict: str | None) -> str | None:
        """Keep the reader's `verdict` on paper `key` (None: forget their rating of it);
        returns the verdict it replaced, for an undo."""

        def work(conn: Tx) -> str | None:
            if verdict is None:
                was = store.ratings.verdict_of(conn, current.email, key)
                store.ratings.unrate(conn, current.email, key)
                return was
            return store.ratings.rate(conn, current.email, key, verdict, now())

        return self.db.retried(work)

    def missing(self, ids: Sequence[str]) -> list[str]:
        """Of the papers a reader named, those arXiv was asked for and does not have."""
        if not ids:
            return []
        with self.db.reading() as conn:
            return store.seeds.missing(conn, ids)

    def verdict(self, current: Subscription, key: str) -> str | None:
        """The reader's rating of paper `key`, if any."""
        with self.db.reading() as conn:
            return store.ratings.verdict_of(conn, current.email, key)

    def ratings(self, current: Subscription) -> list[tuple[Paper, str]]:
        """The papers the reader rated, with their verdicts, most recent first."""
        with self.db.reading() as conn:
            return store.ratings.of(conn, [current.email]).get(current.email, [])

    def sent(self, current: Subscription, limit: int) -> list[Sent]:
        """The digests sent to the reader last, newest first (their archive, their feed)."""
        with self.db.reading() as conn:
            return store.sent.latest(conn, current.email, limit)

    def sent_papers(self, keys: Sequence[str]) -> dict[str, Paper]:
        with self.db.reading() as conn:
            return store.papers.stored(conn, keys)

    def digest_sent(self, current: Subscription, message_id: str) -> Reread | None:
        """A digest sent to the reader, with the papers it carried and those it passed over
        (while they are kept), explained by the reader's profile as it is now."""
        with self.db.reading() as conn:
            sent = store.sent.one(conn, current.email, message_id)
            if sent is None:
                return None
            over = store.sent.passed_over(conn, message_id)
            found = store.papers.stored(conn, [*sent.papers, *over])
        sub = current.subscriber
        picks, hot = explained(sub, sent.picks, found), explained(sub, sent.hot, found)
        return Reread(sent, picks, explained(sub, over, found), hot)

    def popular_keywords(self, limit: int = 12) -> list[str]:
        """The listing keywords most used by the papers the store saw last: hints for the form."""
        counts: Counter[str] = Counter()
        with self.db.reading() as conn:
            recent = store.papers.recent(conn, 500)
        for paper in recent:
            counts.update(
                {k.strip().lower() for k in paper.ai_keywords if 3 <= len(k.strip()) <= 40}
            )
        return [k for k, n in counts.most_common(limit) if n > 1]
