"""Who is subscribed, as the operator manages it: the subscriber file imported under the rules
(`subscriptions.rules`), and the operator's commands (`digest subscribers ...`), each of
which opens the database, does one thing, and returns what the CLI prints."""

from __future__ import annotations

import contextlib
import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import tomli_w

from .. import store
from ..domain.subscriber import ACTIVE, Subscriber, Subscription, entry_of
from ..errors import ConfigError, NotAllowed
from ..settings import Settings, SubscriberFile
from ..store import Tx, now
from ..subscriptions import rules
from ..subscriptions.file import load_subscribers, read_subscribers
from ..subscriptions.forms import subscriber_from
from .seeds import keep, look_up
from .wiring import opened


@dataclass
class Imported:
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    unsubscribed: list[str] = field(default_factory=list)  # in the file, but they left
    removed: list[str] = field(default_factory=list)  # gone from the file they came from

    def summary(self) -> str:
        parts = [
            f"{len(self.added)} added",
            f"{len(self.updated)} updated",
            f"{len(self.unchanged)} unchanged",
            f"{len(self.removed)} removed",
        ]
        if self.unsubscribed:
            parts.append(
                f"{len(self.unsubscribed)} skipped because they unsubscribed "
                f"({', '.join(self.unsubscribed)})"
            )
        return ", ".join(parts)


def import_file(conn: Tx, path: Path, subs: list[Subscriber], *, prune: bool = True) -> Imported:
    """Apply the file's entries under the rules. With `prune`, subscribers that came from
    this file and are no longer in it are removed."""
    origin = rules.origin_of(path)
    result = Imported()
    for sub in subs:
        fingerprint = rules.entry_hash(sub)
        current = store.subscribers.get(conn, sub.email)
        outcome = rules.on_import(current, fingerprint)
        if outcome in (rules.ADDED, rules.UPDATED):
            store.seeds.want(conn, sub.papers)
        if outcome == rules.ADDED:
            store.subscribers.add(conn, sub, ACTIVE, origin, file_hash=fingerprint)
        elif outcome == rules.UPDATED:
            assert current is not None
            store.subscribers.set_profile(
                conn,
                sub,
                origin=origin,
                file_hash=fingerprint,
                status=ACTIVE,
                confirmed_at=current.confirmed_at or now(),
            )
        getattr(result, outcome).append(sub.email)
    if prune:
        listed = {s.email for s in subs}
        for email in sorted(set(store.subscribers.from_origin(conn, origin)) - listed):
            remove_subscriber(conn, email)
            result.removed.append(email)
    return result


def _fingerprint_key(path: Path) -> str:
    return f"subscribers_file:{path.resolve()}"


def sync_file(conn: Tx, file: SubscriberFile) -> Imported | None:
    """Import the subscriber file if it changed since its last import; None if it did not
    (or is absent and not required). A broken file raises ConfigError, importing nothing."""
    path = file.path
    if not path.exists() and not file.required:
        return None
    key = _fingerprint_key(path)
    with contextlib.suppress(OSError):  # read_subscribers says what is wrong with the file
        if store.runs.get_meta(conn, key) == hashlib.sha256(path.read_bytes()).hexdigest():
            return None  # unchanged: not parsed again (a long list takes seconds to parse)
    fingerprint, subs = read_subscribers(path)
    result = import_file(conn, path, subs)
    store.runs.set_meta(conn, key, fingerprint)
    return result


def check_file(file: SubscriberFile) -> None:
    """Check the subscriber file before a run does anything (ConfigError if it is broken)."""
    if file.path.exists() or file.required:
        read_subscribers(file.path)


def may_add(current: Subscription | None) -> None:
    """NotAllowed for an address that unsubscribed: only they can come back."""
    if not rules.operator_may_add(current):
        assert current is not None and current.unsubscribed_at is not None
        raise NotAllowed(
            f"{current.email} unsubscribed on {current.unsubscribed_at:%Y-%m-%d}; only they "
            "can subscribe again (the subscribe page of `digest serve`)"
        )


def add_subscriber(conn: Tx, sub: Subscriber) -> str:
    """Add or update a subscriber as the operator: active at once (the operator vouches).
    Returns "added" or "updated"; NotAllowed for an address that unsubscribed."""
    current = store.subscribers.get(conn, sub.email)
    may_add(current)
    store.seeds.want(conn, sub.papers)
    if current is None:
        store.subscribers.add(conn, sub, ACTIVE, "cli")
        return "added"
    store.subscribers.set_profile(
        conn, sub, status=ACTIVE, confirmed_at=current.confirmed_at or now()
    )
    return "updated"


def remove_subscriber(conn: Tx, email: str) -> bool:
    """Delete a subscriber, their ratings, and their pending mail. What they were sent stays
    in the ledger, so if the address comes back it is not sent those papers again."""
    removed = store.subscribers.remove(conn, email)  # first: it waits for a batch being stored
    store.outbox.cancel_pending(conn, email, "subscriber removed")
    store.ratings.forget(conn, email)
    return removed


def unknown(email: str) -> ConfigError:
    """What every command that takes an address says when nobody has it: bad usage (exit 2),
    in the same words."""
    return ConfigError(f"no subscriber {email!r} (`digest subscribers list` shows them)")


def require(conn: Tx, email: str) -> Subscription:
    """The subscription of `email`; ConfigError (bad usage) when there is none."""
    found = store.subscribers.get(conn, email.strip().lower())
    if found is None:
        raise unknown(email)
    return found


# --- the operator's commands ---------------------------------------------------------------


def members(settings: Settings) -> list[Subscription]:
    """Everyone, the subscriber file imported first if it changed (so what an operator just
    edited is what they see)."""
    with opened(settings) as db, db.writing() as conn:
        sync_file(conn, settings.subscribers)
        return store.subscribers.page(conn)


def add(settings: Settings, fields: dict[str, object]) -> tuple[str, str | None]:
    """Add or update one subscriber from the CLI's fields (`subscriptions.forms`): "added"
    or "updated", and a note when the papers it names could not be looked up now.
    ConfigError if they do not make a valid entry or name a paper arXiv does not have,
    NotAllowed if the address unsubscribed."""
    try:
        sub = subscriber_from(fields)
    except ValueError as exc:
        raise ConfigError(f"{fields.get('email')}: {exc}") from None
    with opened(settings) as db:
        with db.writing() as conn:
            sync_file(conn, settings.subscribers)
            may_add(store.subscribers.get(conn, sub.email))
        found, note = look_up(db, settings, sub.papers)  # nothing open while arXiv answers
        with db.writing() as conn:
            what = add_subscriber(conn, sub)
            keep(conn, found, [])
        return what, note


def remove(settings: Settings, email: str) -> None:
    """Delete one subscriber; ConfigError (`unknown`) when there is none."""
    with opened(settings) as db, db.writing() as conn:
        sync_file(conn, settings.subscribers)
        removed = remove_subscriber(conn, email.strip().lower())
    if not removed:
        raise unknown(email)


def import_path(settings: Settings, path: Path) -> Imported:
    """Import `path` now, whether or not it changed. Only the configured subscriber file
    removes the subscribers it no longer lists; another file only adds and updates."""
    _, subs = read_subscribers(path)
    configured = path.resolve() == settings.subscribers.path.resolve()
    with opened(settings) as db, db.writing() as conn:
        return import_file(conn, path, subs, prune=configured)


def export(settings: Settings, *, everyone: bool = False) -> str:
    """The subscribed (active and paused) as a subscriber file; `everyone` adds those
    pending confirmation and those who unsubscribed, each with a comment saying so."""
    chosen = [m for m in members(settings) if everyone or m.status == ACTIVE]
    parts = ["# paper-digest subscribers, exported; `digest subscribers import` reads it back\n"]
    for m in chosen:
        note = "" if m.state == "active" else f"# {m.state}\n"
        parts.append(f"\n{note}" + tomli_w.dumps({"subscriber": [entry_of(m.subscriber)]}))
    return "".join(parts)


def still_listed(file: SubscriberFile, email: str) -> bool:
    """Whether the subscriber file still has an entry for `email` (a removed subscriber the
    next change to the file would bring back)."""
    path = file.path
    with contextlib.suppress(ConfigError):
        if path.exists():
            return any(s.email == email.strip().lower() for s in load_subscribers(path))
    return False


def enable(settings: Settings, email: str) -> bool:
    """Re-enable a suppressed address; False if it was not suppressed. ConfigError
    (`unknown`) for an address that is neither suppressed nor a subscriber."""
    address = email.strip().lower()
    with opened(settings) as db, db.writing() as conn:
        if store.suppressions.unsuppress(conn, address):
            return True
        known = store.subscribers.get(conn, address) is not None
    if not known:
        raise unknown(email)
    return False
