"""Papers by arXiv id, from arXiv's export API (`GET {DIGEST_ARXIV_API_URL}?id_list=…`): the
papers readers name in their profiles (`papers`) that no listing brought. Asked for in
batches, spaced like every request to arXiv (one every three seconds, shared with the
announcement feed's), and read with the feed's own parser."""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import urlencode

import feedparser
import httpx

from ..domain.paper import Paper
from ..domain.text import one_line
from ..errors import SourceError
from ..pace import Pace
from .arxiv import NAME, PACE, parse_entry, read_feed
from .http import Fetcher

BATCH = 50  # ids per request


class ArxivLookup:
    def __init__(
        self,
        api_url: str,
        *,
        timeout: float = 30.0,
        attempts: int = 3,
        backoff: float = 3.0,
        pace: Pace = PACE,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.api_url = api_url
        self.http = Fetcher(
            NAME,
            accept="application/atom+xml, application/xml;q=0.9",
            timeout=timeout,
            attempts=attempts,
            backoff=backoff,
            pace=pace,
            transport=transport,
        )

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> ArxivLookup:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def papers(self, ids: Sequence[str]) -> tuple[list[Paper], list[str]]:
        """The papers of `ids` arXiv has, and the ids it has none for; SourceError when
        arXiv cannot be asked or answers with something else than a feed."""
        found: list[Paper] = []
        lacking: list[str] = []
        for at in range(0, len(ids), BATCH):
            batch = list(ids[at : at + BATCH])
            query = urlencode({"id_list": ",".join(batch), "max_results": len(batch)})
            url = f"{self.api_url}?{query}"
            got = {p.arxiv_id: p for p in _entries(self.http.get(url).content, url)}
            found += [got[i] for i in batch if i in got]
            lacking += [i for i in batch if i not in got]
        return found, lacking


def _entries(body: bytes, where: str) -> list[Paper]:
    """The papers of an export API answer. An entry without an id or a title is how the API
    answers for an id it does not know, so it is skipped; an entry under arXiv's errors
    (a refused request) is a SourceError, so no id of the batch is taken for missing."""
    feed = read_feed(body, where)
    problem = feed.get("bozo_exception")
    if feed.get("bozo") and not isinstance(problem, feedparser.CharacterEncodingOverride):
        raise SourceError(NAME, where, f"malformed answer ({problem})")
    if not feed.get("version"):
        raise SourceError(NAME, where, "not an Atom feed")
    out = []
    for index, entry in enumerate(feed.get("entries", [])):
        if "/api/errors" in str(entry.get("id", "")):
            summary = one_line(str(entry.get("summary", "")))[:200]
            raise SourceError(NAME, where, f"arXiv answered an error: {summary}")
        try:
            _, paper = parse_entry(entry, None, f"entry #{index}")
        except ValueError:
            continue
        out.append(paper)
    return out
