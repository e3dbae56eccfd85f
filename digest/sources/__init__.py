"""Sources turn a window of listing days into Paper records; each failure names source and URL."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Protocol

from ..config import Settings
from ..models import Paper


class SourceError(Exception):
    """A source could not deliver a listing: what failed, where, and why."""

    def __init__(self, source: str, where: str, problem: str) -> None:
        super().__init__(f"{source}: {where}: {problem}")
        self.source = source
        self.where = where
        self.problem = problem


class Source(Protocol):
    name: str

    def fetch(self, day: date) -> list[Paper]:
        """Every paper listed on `day`; [] for a day with no listing; SourceError on failure."""
        ...

    def close(self) -> None: ...


def make_sources(settings: Settings) -> Sequence[Source]:
    from .huggingface import HuggingFaceSource
    from .sample import SampleSource

    made: list[Source] = []
    for name in settings.sources:
        if name == "huggingface":
            made.append(HuggingFaceSource(settings.hf_api_url))
        elif name == "sample":
            made.append(SampleSource())
    return made
