"""The operator's subscriber commands as a library: each opens the database, does one thing
under roster's rules, and returns what the CLI prints."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import tomli_w
from sqlalchemy import Connection

from . import roster
from .config import ConfigError, Settings
from .pipeline import opened
from .roster import Imported, Member
from .subscribers import entry_of, parse_entry, read_subscribers


def members(settings: Settings) -> list[Member]:
    """Everyone, the subscriber file imported first if it changed (so what an operator just
    edited is what they see)."""
    with opened(settings) as engine, engine.begin() as conn:
        synced(conn, settings)
        return roster.members(conn)


def synced(conn: Connection, settings: Settings) -> None:
    roster.sync_file(conn, settings.subscribers_path, settings.subscribers_required)


def add(settings: Settings, entry: dict[str, Any]) -> str:
    """Add or update one subscriber from a subscriber-file entry; ConfigError if it is not
    a valid entry, roster.NotAllowed if the address unsubscribed."""
    try:
        sub = parse_entry(entry)
    except ValueError as exc:
        raise ConfigError(f"{entry.get('email')}: {exc}") from None
    with opened(settings) as engine, engine.begin() as conn:
        synced(conn, settings)
        return roster.add(conn, sub)


def remove(settings: Settings, email: str) -> bool:
    with opened(settings) as engine, engine.begin() as conn:
        synced(conn, settings)
        return roster.remove(conn, email.strip().lower())


def import_file(settings: Settings, path: Path) -> Imported:
    """Import `path` now, whether or not it changed. Only the configured subscriber file
    removes the subscribers it no longer lists; another file only adds and updates."""
    _, subs = read_subscribers(path)
    configured = path.resolve() == settings.subscribers_path.resolve()
    with opened(settings) as engine, engine.begin() as conn:
        return roster.import_file(conn, path, subs, prune=configured)


def export(settings: Settings, *, everyone: bool = False) -> str:
    """The subscribed (active and paused) as a subscriber file; `everyone` adds those
    pending confirmation and those who unsubscribed, each with a comment saying so."""
    chosen = [m for m in members(settings) if everyone or m.status == roster.ACTIVE]
    parts = ["# paper-digest subscribers, exported; `digest subscribers import` reads it back\n"]
    for m in chosen:
        note = "" if m.state == "active" else f"# {m.state}\n"
        parts.append(f"\n{note}" + tomli_w.dumps({"subscriber": [entry_of(m.subscriber)]}))
    return "".join(parts)
