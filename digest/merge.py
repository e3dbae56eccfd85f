"""One record per paper, from every listing of it: arXiv's record of the paper, enriched with
what Hugging Face adds (upvotes, AI keywords and summary, code and project links)."""

from __future__ import annotations

import dataclasses
from typing import Any

from .models import Paper

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
