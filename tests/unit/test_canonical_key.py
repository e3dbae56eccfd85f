"""Canonical keys: one key for a paper's versions, prefixes and spellings."""

from __future__ import annotations

from digest.domain.paper import canonical_key


def test_canonical_key() -> None:
    assert (
        canonical_key("2602.23229v3", "x") == canonical_key("2602.23229", "y") == "arxiv:2602.23229"
    )
    assert canonical_key("arXiv:2602.23229", "x") == "arxiv:2602.23229"
    assert canonical_key("hep-th/9901001v2", "x") == "arxiv:hep-th/9901001"
    assert canonical_key("x75e684e9", "Déjà  Vu: A  Paper!") == canonical_key(
        None, "deja vu a paper"
    )
