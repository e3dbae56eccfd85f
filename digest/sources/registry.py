"""The sources DIGEST_SOURCES names, made from their settings."""

from __future__ import annotations

from collections.abc import Sequence

from ..settings import SourceSettings
from .arxiv import ArxivSource
from .base import Source
from .huggingface import HuggingFaceSource
from .sample import SampleSource


def make_sources(settings: SourceSettings) -> Sequence[Source]:
    """The configured sources, in the order DIGEST_SOURCES names them."""
    made: list[Source] = []
    for name in settings.names:
        if name == "huggingface":
            made.append(HuggingFaceSource(settings.hf_api_url))
        elif name == "arxiv":
            made.append(
                ArxivSource(
                    settings.arxiv_rss_url,
                    settings.arxiv_categories,
                    cross_lists=settings.arxiv_cross_lists,
                )
            )
        elif name == "sample":
            made.append(SampleSource())
    return made
