"""Every exception the package raises on purpose, in one place, each saying what it means
to whoever catches it: the CLI turns ConfigError into exit 2 and Busy, Unavailable or
NotAllowed into exit 1 (one line, no traceback); a run turns SourceError, DeliveryError and
Refused into its result."""

from __future__ import annotations

from .domain.text import printable


class ConfigError(Exception):
    """A setting or input file is unusable; the message names which one and why, on one
    printable line whatever the setting or file held."""

    def __init__(self, message: str) -> None:
        super().__init__(printable(message))


class Busy(Exception):
    """Another process holds the run lock."""


class Unavailable(Exception):
    """The database is there but refuses for now (read-only, full, locked by another
    program): a state, not a mistake in the settings; the next run does what this one could
    not."""


class NotAllowed(Exception):
    """The operator asked for something the rules forbid (re-adding an unsubscribed address)."""


class SourceError(Exception):
    """A source could not deliver a listing: what failed, where, and why."""

    def __init__(self, source: str, where: str, problem: str) -> None:
        where, problem = printable(where), printable(problem)  # a listing's text stays text
        super().__init__(f"{source}: {where}: {problem}")
        self.source = source
        self.where = where
        self.problem = problem


class TransientFetchError(Exception):
    """A source's server answered with something worth retrying (a timeout, 429, 5xx), and
    perhaps said how long to wait first."""

    def __init__(self, problem: str, retry_after: float | None = None) -> None:
        super().__init__(problem)
        self.retry_after = retry_after


class DeliveryError(Exception):
    """Nothing can be delivered now (relay unreachable, login or sender refused, outbox
    unwritable)."""


class Refused(Exception):
    """The transport declined this one message; `permanent` says whether retrying can help,
    `address_fault` whether the recipient address is to blame (what suppression counts)."""

    def __init__(
        self, code: int | None, reason: str, permanent: bool, address_fault: bool = False
    ) -> None:
        super().__init__(f"{code} {reason}" if code else reason)
        self.code = code
        self.reason = reason
        self.permanent = permanent
        self.address_fault = permanent and address_fault


class BadToken(Exception):
    """A signed link that is forged, expired, malformed, or made for another purpose."""


class NotInlinable(Exception):
    """The template cannot be inlined ahead of rendering (a Jinja construct inside a style
    element or attribute, say); its messages are inlined one by one instead."""
