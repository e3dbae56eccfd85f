"""Whole-profile fit: points that reorder the papers a profile's keywords selected, so a paper
about the profile as a whole ranks above one that merely shares a broad word with it.

Two parts, each from 0 to its weight, added to the keyword score:
- *profile words*: BM25 over title and abstract with every word of the profile's keywords
  as the query, relative to the best of the profile's selected papers ("safety" alone
  scores less than "safety" with "reinforcement learning" and "constrained");
- *best matches*: cosine similarity (TF-IDF over title and abstract) to the centroid of the
  profile's TOP strongest keyword matches, a pseudo-relevance feedback step.

Only papers the keywords already selected are reordered, so nothing reaches an inbox that the
keywords did not let through. The weights were chosen on the dev set as a whole, from the
middle of a plateau (0.84 to 0.85 mean nDCG@10 for words 0.25 to 1, matches 1.5 to 2, TOP 3
to 8), not tuned per profile."""

from __future__ import annotations

import math
from collections import Counter, OrderedDict
from collections.abc import Iterable, Sequence
from functools import lru_cache
from typing import Any, Protocol

import numpy as np

from ..domain.paper import Paper
from .terms import BREAK, FUNCTION_WORDS, tokens


class PaperIndex(Protocol):
    """A paper as `rank.index` indexes it: what the fit reads of it (its fields' tokens)."""

    @property
    def paper(self) -> Paper: ...

    @property
    def fields(self) -> dict[str, Any]: ...


WORDS = 0.5  # points for the best BM25 over the profile's words among its selected papers
MATCHES = 1.5  # points for a paper identical to the centroid of the strongest matches
TOP = 5  # strongest keyword matches whose centroid is the profile's "best matches"
TITLE = 2  # a title word counts as this many abstract words
K1, B = 1.2, 0.75
OUTSIDE_KEPT = 4096  # rated papers whose likeness to the listing is kept (one row each)

_SKIP = frozenset(t for w in FUNCTION_WORDS for t in tokens(w)) | {BREAK}

Parts = tuple[float, float]  # (profile words, best matches) points of one paper
NONE: Parts = (0.0, 0.0)


def profile_words(terms: Iterable[str]) -> tuple[str, ...]:
    """The words (as tokens) of a profile's keywords, less function words: each once, in a
    fixed order."""
    return tuple(sorted({t for term in terms for t in _words_of(term)}))


@lru_cache(maxsize=65536)
def _words_of(term: str) -> tuple[str, ...]:
    return tuple(t for t in tokens(term) if t not in _SKIP and len(t) > 1)


class Context:
    """A listing's papers as bags of words, indexed once for every profile: BM25 weights
    per word, and TF-IDF vectors whose similarities are worked out per paper on first use."""

    def __init__(self, indexed: Sequence[PaperIndex]) -> None:
        bags = [_bag(idx) for idx in indexed]
        self.size = len(bags)
        df: Counter[str] = Counter()
        for bag in bags:
            df.update(bag.keys())
        self._df = df
        self._bags = bags
        lengths = np.array([sum(b.values()) for b in bags], dtype=np.float64)
        mean = float(lengths.mean()) if len(bags) else 0.0
        self._norm = K1 * (1 - B + B * lengths / (mean or 1.0))  # papers of no words: no NaN
        vocab = {t: i for i, t in enumerate(df)}
        self._vocab = vocab
        indptr, indices, data = [0], [], []
        for bag in bags:
            weights = self._weights(bag)
            indices.extend(vocab[t] for t, _ in weights)
            data.extend(w for _, w in weights)
            indptr.append(len(indices))
        self._indptr = np.array(indptr, dtype=np.int64)
        self._indices = np.array(indices, dtype=np.int64)
        self._data = np.array(data, dtype=np.float64)
        self._owner = np.repeat(np.arange(self.size), np.diff(self._indptr))  # each weight's paper
        self._width = len(vocab)
        self._rows: dict[int, np.ndarray] = {}
        self._words: dict[str, np.ndarray] = {}
        self._outside: OrderedDict[str, np.ndarray] = OrderedDict()  # rated papers, LRU
        self._vectors: np.ndarray | None = None

    def use_vectors(self, vectors: np.ndarray) -> None:
        """Compare papers by these unit vectors (the semantic mode, `rank.semantic`), one row
        per paper of the listing in its order, instead of by TF-IDF."""
        if vectors.shape[0] != self.size:
            raise ValueError(f"{vectors.shape[0]} vectors for {self.size} papers")
        self._vectors = vectors.astype(np.float64)
        self._rows.clear()
        self._outside.clear()

    @property
    def semantic(self) -> bool:
        return self._vectors is not None

    def _weights(self, bag: Counter[str]) -> list[tuple[str, float]]:
        """A bag's TF-IDF weights (sublinear tf, smoothed idf), normalized to length 1."""
        weights = [
            (t, (1 + math.log(n)) * (math.log((self.size + 1) / (self._df.get(t, 0) + 1)) + 1))
            for t, n in bag.items()
        ]
        norm = math.sqrt(sum(w * w for _, w in weights)) or 1.0
        return [(t, w / norm) for t, w in weights]

    def like(self, paper: PaperIndex, vector: np.ndarray | None = None) -> np.ndarray:
        """Cosine similarity of any paper (a rated one, not in this listing) to every paper
        of the listing (exact multiples of QUANTUM). In the semantic mode, by the paper's
        `vector`; a paper without one is like none."""
        key = paper.paper.key
        made = self._outside.get(key)
        if made is not None:
            self._outside.move_to_end(key)
        else:
            if self._vectors is not None:
                made = (
                    _quantized(self._vectors @ vector.astype(np.float64))
                    if vector is not None
                    else np.zeros(self.size)
                )
            else:
                dense = np.zeros(self._width)
                for t, w in self._weights(_bag(paper)):
                    if t in self._vocab:
                        dense[self._vocab[t]] = w
                made = self._against(dense)
            self._outside[key] = made
            if len(self._outside) > OUTSIDE_KEPT:
                self._outside.popitem(last=False)
        return made

    def _against(self, dense: np.ndarray) -> np.ndarray:
        """Each paper's dot product with `dense` (a vector over the vocabulary); a paper of
        no words gets 0."""
        products = self._data * dense[self._indices]
        return _quantized(np.bincount(self._owner, products, minlength=self.size))

    def _bm25(self, word: str) -> np.ndarray:
        """The word's BM25 weight in every paper (exact multiples of QUANTUM: see `points`)."""
        made = self._words.get(word)
        if made is None:
            n = self._df.get(word, 0)
            tf = np.array([bag.get(word, 0) for bag in self._bags], dtype=np.float64)
            idf = math.log(1 + (self.size - n + 0.5) / (n + 0.5))
            made = self._words[word] = _quantized(idf * tf * (K1 + 1) / (tf + self._norm))
        return made

    def _similar(self, n: int) -> np.ndarray:
        """Cosine similarity of paper `n` to every paper (exact multiples of QUANTUM), by
        TF-IDF or, in the semantic mode, by the papers' vectors."""
        made = self._rows.get(n)
        if made is None and self._vectors is not None:
            made = self._rows[n] = _quantized(self._vectors @ self._vectors[n])
        elif made is None:
            start, end = self._indptr[n], self._indptr[n + 1]
            dense = np.zeros(self._width)
            dense[self._indices[start:end]] = self._data[start:end]
            made = self._rows[n] = self._against(dense)
        return made

    def points(
        self,
        words: Sequence[Sequence[str]],
        row: np.ndarray,
        paper: np.ndarray,
        bounds: Sequence[int],
        keyed: np.ndarray,
    ) -> tuple[np.ndarray, np.ndarray]:
        """The context points of a batch's selected papers: entry i is paper `paper[i]` of
        profile `row[i]`, each profile's entries together and strongest first (profile b's
        from `bounds[b]` to `bounds[b + 1]`; `words[b]` its words). A profile's best matches
        are its first TOP entries that its keywords selected (`keyed`; not a followed
        author's paper, nor one a rating brought in). Two arrays: profile words, best
        matches.

        Every weight and similarity is a multiple of QUANTUM small enough that any sum of
        them is exact, so a profile gets the same points ranked alone or in a batch,
        whatever order the additions take."""
        size = len(paper)
        if not size:
            return np.zeros(0), np.zeros(0)
        bounds = list(bounds)
        profiles = len(words)
        # profile words: each entry's paper against each word of its profile
        vocab = sorted({w for ws in words for w in ws})
        index = {w: i for i, w in enumerate(vocab)}
        flat = np.array([index[w] for ws in words for w in ws], dtype=np.int64)
        per = np.array([len(ws) for ws in words], dtype=np.int64)
        by_words = np.zeros(size)
        if len(flat):
            weights = np.stack([self._bm25(w) for w in vocab])
            owner, k = _pairs(per[row])
            pair_word = flat[_starts(per)[row][owner] + k]
            totals = np.bincount(owner, weights[pair_word, paper[owner]], minlength=size)
            # relative to the best of the papers the keywords selected (if any), so
            # following an author changes nothing for the others
            best = _per_profile(np.maximum.reduceat, np.where(keyed, totals, 0.0), row, bounds)
            anyway = _per_profile(np.maximum.reduceat, totals, row, bounds)
            best = np.where(best > 0, best, anyway)
            scale = np.divide(WORDS, best, out=np.zeros(size), where=best > 0)
            by_words = np.minimum(scale * totals, WORDS)
        # best matches: each entry's paper against its profile's TOP strongest keyword matches
        keyed_at = np.flatnonzero(keyed)  # by profile, strongest first
        counts = np.bincount(row[keyed_at], minlength=profiles)
        many = np.minimum(counts, TOP)  # top papers each
        top_owner, top_k = _pairs(many)
        top_paper = paper[keyed_at[_starts(counts)[top_owner] + top_k]]
        if not len(top_paper):
            return by_words.round(4), np.zeros(size)
        wanted, top_row = np.unique(top_paper, return_inverse=True)
        similar = np.stack([self._similar(n) for n in wanted.tolist()])
        owner, k = _pairs(many[row])
        pair_top = top_row[_starts(many)[row][owner] + k]
        together = np.bincount(owner, similar[pair_top, paper[owner]], minlength=size)
        a_owner, a_k = _pairs(many * many)  # TOP x TOP per profile: how alike its top papers are
        base = _starts(many)[a_owner]
        left, right = base + a_k // many[a_owner], base + a_k % many[a_owner]
        alike = similar[top_row[left], top_paper[right]]
        inner = np.bincount(a_owner, alike, minlength=profiles)[row]
        scale = np.divide(MATCHES, np.sqrt(inner), out=np.zeros(size), where=inner > 0)
        by_matches = scale * together
        return by_words.round(4), by_matches.round(4)


def _pairs(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For runs of `counts` items: each item's run, and its place in the run."""
    owner = np.repeat(np.arange(len(counts)), counts)
    return owner, np.arange(len(owner)) - _starts(counts)[owner]


def _bag(idx: PaperIndex) -> Counter[str]:
    """A paper's title and abstract words, a title word counting TITLE times."""
    bag: Counter[str] = Counter()
    for t in idx.fields["title"].tokens:
        if t not in _SKIP:
            bag[t] += TITLE
    for t in idx.fields["abstract"].tokens:
        if t not in _SKIP:
            bag[t] += 1
    return bag


def _starts(counts: np.ndarray) -> np.ndarray:
    """Where each run of `counts` starts in their concatenation."""
    return np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)


def _per_profile(reduce, values: np.ndarray, row: np.ndarray, bounds: list[int]) -> np.ndarray:
    """`reduce` (a ufunc's reduceat) over each profile's entries, spread back to them."""
    filled = [b for b in range(len(bounds) - 1) if bounds[b + 1] > bounds[b]]
    out = np.zeros(len(bounds) - 1)
    out[filled] = reduce(values, np.array([bounds[b] for b in filled], dtype=np.int64))
    return out[row]


QUANTUM = 2.0**-30  # weights (at most ~20) and similarities (at most 1): sums stay exact


def _quantized(values: np.ndarray) -> np.ndarray:
    return np.round(values / QUANTUM) * QUANTUM
