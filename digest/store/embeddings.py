"""Papers' sentence embeddings (rank.semantic), as float32 bytes, one per paper and model."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import datetime

import numpy as np
from sqlalchemy import Connection, exists, or_, select
from sqlalchemy.dialects import postgresql, sqlite

from ..domain.paper import Paper
from .papers import paper_from
from .rows import chunks
from .schema import embeddings, papers, ratings, seeds


def of(conn: Connection, keys: Collection[str], model: str) -> dict[str, np.ndarray]:
    """The stored vectors of those of `keys` that have one."""
    out: dict[str, np.ndarray] = {}
    for chunk in chunks(list(keys)):
        stmt = select(embeddings.c.paper_key, embeddings.c.vector).where(
            embeddings.c.model == model, embeddings.c.paper_key.in_(chunk)
        )
        for key, raw in conn.execute(stmt):
            out[key] = np.frombuffer(raw, dtype=np.float32)
    return out


def lacking(conn: Connection, keys: Collection[str], model: str) -> list[str]:
    """Those of `keys` with no vector yet."""
    have: set[str] = set()
    for chunk in chunks(list(keys)):
        stmt = select(embeddings.c.paper_key).where(
            embeddings.c.model == model, embeddings.c.paper_key.in_(chunk)
        )
        have.update(conn.execute(stmt).scalars())
    return [k for k in dict.fromkeys(keys) if k not in have]


def add(conn: Connection, vectors: Mapping[str, np.ndarray], model: str) -> None:
    rows = [
        {"paper_key": k, "model": model, "vector": np.asarray(v, dtype=np.float32).tobytes()}
        for k, v in vectors.items()
    ]
    add_new = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    for at in range(0, len(rows), 500):  # another process may have stored some meanwhile
        conn.execute(add_new(embeddings).on_conflict_do_nothing(), rows[at : at + 500])


def rated_lacking(conn: Connection, model: str, since: datetime) -> list[Paper]:
    """The papers readers rated or named (found seeds) since `since` that have no vector
    yet: a look at the latest ratings only, so it costs the same however many there are."""
    has = exists().where(embeddings.c.paper_key == papers.c.key, embeddings.c.model == model)
    rated = select(ratings.c.paper_key).where(ratings.c.rated_at >= since)
    named = select(seeds.c.arxiv_id).where(seeds.c.state == "found", seeds.c.checked_at >= since)
    stmt = select(papers).where(
        or_(papers.c.key.in_(rated), papers.c.arxiv_id.in_(named)),
        ~has,
    )
    return [paper_from(row, None) for row in conn.execute(stmt)]
