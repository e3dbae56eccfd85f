"""The subscriber file (TOML, `[[subscriber]]` entries): read and validated whole; a file with
any bad entry is refused whole, naming the file, the entry and the problem."""

from __future__ import annotations

import hashlib
import tomllib
from pathlib import Path

from ..domain.subscriber import Subscriber, parse_entry
from ..domain.text import one_line
from ..errors import ConfigError


def load_subscribers(path: Path) -> list[Subscriber]:
    """All subscribers of `path`, or ConfigError naming the file, the entry and the problem."""
    return read_subscribers(path)[1]


def read_subscribers(path: Path) -> tuple[str, list[Subscriber]]:
    """The file's fingerprint (so an unchanged file is not imported again) and its
    subscribers, from one read."""
    try:
        raw = path.read_bytes()
        fingerprint = hashlib.sha256(raw).hexdigest()
        data = tomllib.loads(raw.decode("utf-8"))
    except FileNotFoundError:
        raise ConfigError(
            f"{path}: subscriber file not found (copy subscribers.example.toml, "
            "or point DIGEST_SUBSCRIBERS at yours)"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read subscriber file: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    except ValueError as exc:  # tomllib's own limits, e.g. an integer of 4,300+ digits
        raise ConfigError(f"{path}: not a subscriber file: {exc}") from None
    except RecursionError:
        raise ConfigError(f"{path}: not a subscriber file: values nested too deeply") from None

    unknown = set(data) - {"subscriber"}
    if unknown:
        raise ConfigError(f"{path}: unknown top-level key(s): {', '.join(sorted(unknown))}")
    entries = data.get("subscriber", [])
    if not isinstance(entries, list):
        raise ConfigError(f"{path}: 'subscriber' must be an array of tables ([[subscriber]])")

    subscribers: list[Subscriber] = []
    seen: set[str] = set()
    for index, entry in enumerate(entries, start=1):
        email = entry.get("email", "?") if isinstance(entry, dict) else "?"
        label = one_line(str(email)) or "?"  # the file's text, kept to one line
        try:
            sub = parse_entry(entry)
        except ValueError as exc:
            raise ConfigError(
                f"{path}: subscriber #{index} ({label}): {one_line(str(exc))}"
            ) from None
        if sub.email in seen:
            raise ConfigError(f"{path}: subscriber #{index} ({label}): duplicate email")
        seen.add(sub.email)
        subscribers.append(sub)
    return fingerprint, subscribers
