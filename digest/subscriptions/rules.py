"""The rules between the ways a subscriber comes in (README, "Subscribers"). Pure: each takes
a subscription as the store holds it and says what happens; the jobs apply the answer.

- the file is imported when it changed since the last import; a new address is added, an
  entry the operator edited since the last import overwrites what the subscriber set, an
  entry left as it was leaves the subscriber's own changes standing, and an address gone
  from the file is removed if it came from that file;
- an unsubscribe is never undone by an import or by `digest subscribers add`: only the
  subscriber, through a fresh confirmation, or the undo on the page that unsubscribed them;
- mail to an address that did not ask for digests (confirmation, "here is your link") is
  rationed, however often the form is sent;
- a weekly subscriber's digest is due once a week, on the weekly day or the first run after.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from datetime import date, datetime, timedelta
from pathlib import Path

from ..domain.subscriber import ACTIVE, UNSUBSCRIBED, Subscriber, Subscription, entry_of

# Mail to an address that did not ask for digests: at most one per NOTICE_GAP and
# NOTICE_DAILY a day.
NOTICE_GAP = timedelta(minutes=10)
NOTICE_DAILY = 3
UNCONFIRMED_KEPT = timedelta(days=7)  # an address asked for and never confirmed is forgotten

# --- the subscriber file -------------------------------------------------------------------

ADDED, UPDATED, UNCHANGED, LEFT = "added", "updated", "unchanged", "unsubscribed"


def entry_hash(sub: Subscriber) -> str:
    """The file entry's fingerprint, kept to tell an operator's edit from the subscriber's."""
    return hashlib.sha256(json.dumps(entry_of(sub), sort_keys=True).encode()).hexdigest()


def origin_of(path: Path) -> str:
    return f"file:{path.resolve()}"


def on_import(current: Subscription | None, fingerprint: str) -> str:
    """What importing a file entry (with `fingerprint`) does to the subscription it names:
    ADDED (new address), LEFT (they unsubscribed: skipped), UNCHANGED (the entry is as last
    imported: the subscriber's own changes stand), or UPDATED (the file's version replaces
    the profile)."""
    if current is None:
        return ADDED
    if current.status == UNSUBSCRIBED:
        return LEFT
    if current.file_hash == fingerprint and current.status == ACTIVE:
        return UNCHANGED
    return UPDATED


def operator_may_add(current: Subscription | None) -> bool:
    """The operator may add or update any address but one that unsubscribed."""
    return current is None or current.status != UNSUBSCRIBED


# --- the web pages -------------------------------------------------------------------------


def notice_to_send(current: Subscription | None) -> str:
    """What the subscribe form mails: "confirm" to an address that has not confirmed (new,
    pending, or one that unsubscribed), "manage" (their preferences link) to an active
    subscriber: the form never changes an active subscription."""
    return "manage" if current is not None and current.status == ACTIVE else "confirm"


def notices_after_one_more(notices: Sequence[datetime], now: datetime) -> list[datetime] | None:
    """The notices of the last day with one more sent now, or None when that would mail the
    address too soon or too often."""
    recent = [t for t in notices if now - t < timedelta(days=1)]
    if recent and (now - max(recent) < NOTICE_GAP or len(recent) >= NOTICE_DAILY):
        return None
    return [*recent, now]


def confirms(current: Subscription, issued: datetime) -> bool:
    """Whether a confirmation link issued at `issued` activates the subscription: not one
    already active, and not with a link older than the last unsubscribe (it was for the
    earlier subscription)."""
    if current.status == ACTIVE:
        return False
    return current.unsubscribed_at is None or issued >= current.unsubscribed_at


def undoes(current: Subscription, unsubscribed_at: datetime) -> bool:
    """An undo undoes exactly the unsubscribe that happened at `unsubscribed_at`."""
    return current.status == UNSUBSCRIBED and current.unsubscribed_at == unsubscribed_at


# --- weekly digests ------------------------------------------------------------------------


def last_weekly_day(today: date, weekday: int) -> date:
    """The most recent `weekday` (0 = Monday) on or before `today`."""
    return today - timedelta(days=(today.weekday() - weekday) % 7)


def weekly_due(current: Subscription, today: date, weekday: int) -> bool:
    """A weekly subscriber's digest is due once per week, on the weekly day or, if no run
    happened that day, on the next run after it; not for a week they joined after its day."""
    due_on = last_weekly_day(today, weekday)
    # A run for a past --date treats a later subscriber as if they had joined that day.
    since = current.confirmed_at or current.created_at
    joined = min(since.date(), today) if since else date.min
    done = current.weekly_done
    return joined <= due_on and (done is None or done < due_on)


def due_weekly(subs: Iterable[Subscription], today: date, weekday: int) -> list[Subscription]:
    """The receiving weekly subscribers whose digest is due on `today`."""
    return [s for s in subs if s.receiving and s.weekly and weekly_due(s, today, weekday)]


def starts_weekly(before: Subscriber, after: Subscriber) -> bool:
    """A subscriber switching to weekly: their first weekly digest comes on the next weekly
    day, not on the next run (which would send two in a few days)."""
    return after.frequency == "weekly" and before.frequency != "weekly"
