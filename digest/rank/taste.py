"""A reader's ratings in the ranking: papers like the ones they asked more of rise, papers like
the ones they asked less of sink, and a paper close enough to a liked one comes in though no
keyword selected it. Likeness is `rank.context`'s TF-IDF cosine; each paper is explained by
the rated paper it is most like.

Measured, not yet offered to readers: on the dev set's simulated ratings (`bench/relevance.py`)
TF-IDF likeness lifts nothing at best (LIKE 0.5, DISLIKE 1.0: +0.000 on the mean) and hurts at
most other weights (down to -0.11 on one profile), and a paper is rarely as like a liked one
as NEAR (the 99th percentile of likeness is 0.16 to 0.27). Issue 20 needs a lift of 0.02."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from ..domain.digest import MORE, RATED, Match
from ..domain.paper import Paper
from .context import Context
from .index import PaperIndex, index_paper

LIKE = 0.5  # points for a paper as like a liked paper as that paper itself
DISLIKE = 1.0  # points taken from a paper as like a disliked paper as that paper itself
NEAR = 0.3  # this like a liked paper, a paper comes in though no keyword selected it
NEAR_SEMANTIC = 0.6  # the same, by sentence embeddings (whose cosines run higher)


@dataclass(frozen=True)
class Taste:
    """The papers a reader rated: those they asked more of, and those they asked less of."""

    liked: tuple[PaperIndex, ...] = ()
    disliked: tuple[PaperIndex, ...] = ()
    vectors: Mapping[str, np.ndarray] = field(default_factory=dict, compare=False)  # semantic

    def __bool__(self) -> bool:
        return bool(self.liked or self.disliked)

    @property
    def keys(self) -> frozenset[str]:
        """The rated papers' keys: none of them is picked for the reader again."""
        return frozenset(p.paper.key for p in (*self.liked, *self.disliked))


@dataclass(frozen=True)
class Pull:
    """For each paper of a listing, by position: the points the reader's ratings give it
    (`points`), and the papers as like a liked paper as NEAR or more whose points are still
    above zero (`near`: a paper as like a disliked one never comes in)."""

    taste: Taste
    points: np.ndarray
    near: np.ndarray
    up_by: np.ndarray  # the liked paper each paper is most like (-1: none)
    down_by: np.ndarray

    def why(self, n: int) -> Match | None:
        """What explains paper `n`'s points: the rated paper it is most like."""
        points = float(self.points[n])
        if points > 0 and self.up_by[n] >= 0:
            title = self.taste.liked[self.up_by[n]].paper.title
            return Match(f"like “{title}”, which you liked", RATED, 1, points)
        if points < 0 and self.down_by[n] >= 0:
            title = self.taste.disliked[self.down_by[n]].paper.title
            return Match(f"like “{title}”, which you asked less of", RATED, 1, points)
        return None


def taste_of(
    rated: Iterable[tuple[Paper, str]], vectors: Mapping[str, np.ndarray] | None = None
) -> Taste:
    """The Taste of a reader's rated papers and their verdicts (and, in the semantic mode,
    the rated papers' `vectors`)."""
    liked, disliked = [], []
    for paper, verdict in rated:
        (liked if verdict == MORE else disliked).append(index_paper(paper))
    return Taste(tuple(liked), tuple(disliked), vectors or {})


def pull(context: Context, taste: Taste) -> Pull:
    size = context.size
    up, up_by = _closest(context, taste.liked, taste.vectors, size)
    down, down_by = _closest(context, taste.disliked, taste.vectors, size)
    points = np.round(LIKE * up - DISLIKE * down, 4)
    near = NEAR_SEMANTIC if context.semantic else NEAR
    return Pull(taste, points, np.flatnonzero((up >= near) & (points > 0)), up_by, down_by)


def _closest(
    context: Context, rated: Sequence[PaperIndex], vectors: Mapping[str, np.ndarray], size: int
) -> tuple[np.ndarray, np.ndarray]:
    """For each paper: its likeness to the rated paper it is most like, and which that is."""
    if not rated or not size:
        return np.zeros(size), np.full(size, -1)
    rows = np.stack([context.like(p, vectors.get(p.paper.key)) for p in rated])
    return rows.max(axis=0), rows.argmax(axis=0)
