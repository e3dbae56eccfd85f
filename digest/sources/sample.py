"""The listing bundled with the package: Hugging Face payloads on disk, parsed by the same code."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import date
from importlib import resources
from pathlib import Path

from ..domain.paper import Paper
from ..domain.source import SourceState
from ..errors import SourceError
from .base import Fetched, by_day
from .huggingface import parse_listing


def sample_dir() -> Path:
    return Path(str(resources.files("digest") / "sample"))


class SampleSource:
    name = "sample"

    def __init__(self, directory: Path | None = None) -> None:
        self.directory = directory or sample_dir()

    def fetch_window(self, days: Sequence[date], known: SourceState) -> Fetched:
        return by_day(self.fetch, days, known)

    def fetch(self, day: date) -> list[Paper]:
        path = self.directory / f"{day.isoformat()}.json"
        if not path.is_file():
            return []
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise SourceError(
                self.name, str(path), f"malformed payload, not JSON ({exc})"
            ) from None
        by_key: dict[str, Paper] = {}
        for paper in parse_listing(data, day, self.name, str(path)):
            by_key.setdefault(paper.key, paper)
        return list(by_key.values())

    def close(self) -> None:
        pass
