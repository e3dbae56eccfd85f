"""The semantic mode (`rank.semantic`, DIGEST_SEMANTIC=true): each paper's vector computed
once, when a run first needs it, and kept in the store; a listing's vectors handed to its
context, so the whole-profile fit and likes compare papers by meaning."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import timedelta
from functools import cache

import numpy as np

from .. import store
from ..domain.paper import Paper
from ..rank.index import Listing
from ..rank.semantic import MODEL, Embedder
from ..store import Database, Tx, now

CHUNK = 256  # papers embedded, then stored, at a time
# Rated (or named) this recently, a paper without a vector gets one before a run decides;
# older ones were listed, so embedded, when they were new (or rated before the mode was on).
RATED_LATELY = timedelta(days=7)


@cache
def embedder() -> Embedder:
    """The model, loaded once per process."""
    return Embedder()


def vectors_of(conn: Tx, papers: Sequence[Paper]) -> dict[str, np.ndarray]:
    """The papers' vectors: those stored, and the others computed now and stored in `conn`
    (a one-off look, whose transaction is rolled back: `digest rank`, `preview`, a dry run)."""
    keys = [p.key for p in papers]
    have = store.embeddings.of(conn, keys, MODEL)
    for made in _computed([p for p in {p.key: p for p in papers}.values() if p.key not in have]):
        store.embeddings.add(conn, made, MODEL)
        have.update(made)
    return have


def embed(db: Database, papers: Sequence[Paper]) -> int:
    """A run's vectors, before it decides: those of `papers` and of the papers readers rated
    or named lately that have none, computed with no transaction open and stored CHUNK at a
    time, so the model never holds the database's write lock. Returns how many were made."""
    with db.reading() as conn:
        todo = set(store.embeddings.lacking(conn, [p.key for p in papers], MODEL))
        extra = store.embeddings.rated_lacking(conn, MODEL, now() - RATED_LATELY)
    wanted = {p.key: p for p in papers if p.key in todo} | {p.key: p for p in extra}
    for made in _computed(list(wanted.values())):
        with db.writing() as conn:
            store.embeddings.add(conn, made, MODEL)
    return len(wanted)


def _computed(papers: Sequence[Paper]) -> Iterator[dict[str, np.ndarray]]:
    """The papers' vectors, CHUNK papers at a time, by key."""
    for at in range(0, len(papers), CHUNK):
        part = papers[at : at + CHUNK]
        yield dict(zip((p.key for p in part), embedder().vectors(part), strict=True))


def understood(conn: Tx, listing: Listing, *, compute: bool) -> Listing:
    """`listing`, its context comparing papers by their vectors: computed where missing
    (`compute`, in `conn`), or only those stored (a run's, after `embed`); a listing with a
    paper that has none then keeps TF-IDF."""
    if not len(listing):
        return listing
    papers = [i.paper for i in listing.indexed]
    have = vectors_of(conn, papers) if compute else store.embeddings.of(conn, listing.keys, MODEL)
    if all(k in have for k in listing.keys):
        listing.context.use_vectors(np.stack([have[k] for k in listing.keys]))
    return listing


def embed_rated(conn: Tx) -> None:
    """In a one-off look: vectors for the papers readers rated or named lately."""
    vectors_of(conn, store.embeddings.rated_lacking(conn, MODEL, now() - RATED_LATELY))
