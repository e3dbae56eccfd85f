"""The semantic mode (`rank.semantic`, DIGEST_SEMANTIC=true): each paper's vector computed
once, when a run first needs it, and kept in the store; a listing's vectors handed to its
context, so the whole-profile fit and likes compare papers by meaning."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache

import numpy as np

from .. import store
from ..domain.paper import Paper
from ..rank.index import Listing
from ..rank.semantic import MODEL, Embedder
from ..store import Tx

CHUNK = 256  # papers embedded, then stored, at a time


@cache
def embedder() -> Embedder:
    """The model, loaded once per process."""
    return Embedder()


def vectors_of(conn: Tx, papers: Sequence[Paper]) -> dict[str, np.ndarray]:
    """The papers' vectors: those stored, and the others computed now and stored."""
    keys = [p.key for p in papers]
    have = store.embeddings.of(conn, keys, MODEL)
    todo = [p for p in {p.key: p for p in papers}.values() if p.key not in have]
    for at in range(0, len(todo), CHUNK):
        part = todo[at : at + CHUNK]
        made = dict(zip((p.key for p in part), embedder().vectors(part), strict=True))
        store.embeddings.add(conn, made, MODEL)
        have.update(made)
    return have


def embed_rated(conn: Tx) -> None:
    """Vectors for the papers readers rated or named that have none (rated before the
    semantic mode was on, or just looked up), so deciding, which only reads, finds them."""
    vectors_of(conn, store.embeddings.rated_lacking(conn, MODEL))


def understood(conn: Tx, listing: Listing) -> Listing:
    """`listing`, its context comparing papers by their vectors."""
    if len(listing):
        have = vectors_of(conn, [i.paper for i in listing.indexed])
        listing.context.use_vectors(np.stack([have[k] for k in listing.keys]))
    return listing
