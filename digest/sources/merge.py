"""One paper, however many listings name it: one key (`resolve_keys`: the key it was first
stored under), and one record (`merge`: arXiv's record of the paper, enriched with what
Hugging Face adds: upvotes, AI keywords and summary, code and project links). Pure: the
daily run hands in what the store knows."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

from ..domain.paper import Paper, normalize_title

# What the store knows of the keys a listing could resolve to: the arXiv id (or None) stored
# under each key, and the (key, arXiv id) of each stored paper under its normalized title.
KeysByKey = Mapping[str, str | None]
KeysByTitle = Mapping[str, Sequence[tuple[str, str | None]]]

ARXIV = "arxiv"
# What arXiv states with authority: where both list the paper, arXiv's version is kept.
RECORD = ("title", "abstract", "authors", "categories", "pdf_url")
# What the community adds; the newest listing that has a value wins (votes only grow).
COMMUNITY = (
    "upvotes",
    "ai_keywords",
    "ai_summary",
    "code_url",
    "project_url",
    "organization",
    "github_stars",
)


def _empty(value: Any) -> bool:
    return value is None or value == "" or value == ()


def _first(*values: Any) -> Any:
    return next((v for v in values if not _empty(v)), values[-1])


def merge(old: Paper, new: Paper) -> Paper:
    """`old` as stored, updated by `new`, a later listing of the same paper.

    The outcome does not depend on which source listed the paper first: arXiv's record wins
    for what it states (title, abstract, authors, categories, its abs page as the paper's
    page, with the Hugging Face page kept beside it); the community fields come from the
    newest listing that has them; and nothing one listing lacks erases what another gave."""
    by_arxiv = (old.source == ARXIV) != (new.source == ARXIV)
    ax, other = (old, new) if old.source == ARXIV else (new, old)
    values: dict[str, Any] = {}
    for name in RECORD:
        mine, theirs = getattr(old, name), getattr(new, name)
        if by_arxiv:
            values[name] = _first(getattr(ax, name), getattr(other, name))
        elif name == "title":
            values[name] = _first(mine, theirs)  # what titles are matched on stays put
        else:
            values[name] = _first(theirs, mine)
    for name in COMMUNITY:
        values[name] = _first(getattr(new, name), getattr(old, name))
    if by_arxiv:
        values["url"] = _first(ax.url, other.url)
        values["discussion_url"] = _first(other.discussion_url, other.url, ax.discussion_url)
        values["source"] = ARXIV
        values["source_id"] = ax.source_id
    else:
        values["url"] = _first(old.url, new.url)
        values["discussion_url"] = _first(old.discussion_url, new.discussion_url)
        values["source_id"] = old.source_id if old.arxiv_id or not new.arxiv_id else new.source_id
    if values["discussion_url"] == values["url"]:
        values["discussion_url"] = None
    published = [p for p in (old.published_at, new.published_at) if p is not None]
    values["published_at"] = min(published) if published else None
    values["listed_on"] = new.listed_on or old.listed_on
    return dataclasses.replace(old, **values)


def resolve_keys(fetched: Sequence[Paper], by_key: KeysByKey, by_title: KeysByTitle) -> list[Paper]:
    """Each paper under the key it is already stored under, if any, and each key once.

    A paper known by title (no arXiv id) and later seen with an id, or the reverse, is one
    paper: the first key it was stored under stays its key, so the ledger keeps holding.
    Two different arXiv ids never merge, even with equal titles.
    """
    resolved: list[Paper] = []
    seen: set[str] = set()
    for paper in fetched:
        key = paper.key
        if key not in by_key:
            for other_key, other_aid in by_title.get(normalize_title(paper.title), ()):
                if other_aid is None or paper.arxiv_id is None or other_aid == paper.arxiv_id:
                    key = other_key
                    break
        if key != paper.key:
            paper = dataclasses.replace(paper, key=key)
        if key not in seen:
            seen.add(key)
            resolved.append(paper)
    return resolved
