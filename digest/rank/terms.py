"""Text folded to the tokens ranking compares: case, accents, hyphens and inflections removed.

"World-Models", "world models" and "world modelling" all become ("world", "model"): the
Snowball English stemmer does the inflections, and a cache makes each distinct word cost one
stemming for the life of the process.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

import snowballstemmer

_WORD = re.compile(r"[^\W_]+|[.,;:!?](?=\s|$)", re.UNICODE)
BREAK = "\x00"  # stands for clause punctuation, so a phrase never spans "prediction, and control"
# Function words: a phrase's words may have a modifier between them ("LLM-based agents"),
# never one of these ("worlds of models", "models for prediction and control").
FUNCTION_WORDS = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "but",
        "by",
        "for",
        "from",
        "in",
        "into",
        "is",
        "it",
        "its",
        "of",
        "on",
        "or",
        "over",
        "than",
        "that",
        "the",
        "their",
        "these",
        "this",
        "those",
        "to",
        "under",
        "via",
        "vs",
        "was",
        "were",
        "which",
        "while",
        "with",
        "within",
        "without",
    ]
)
_VOWEL = re.compile("[aeiouy]")
_STEMMER = snowballstemmer.stemmer("english")
# Things, not what they do: Snowball folds each onto its verb ("computer" and "computed" are
# both "comput"), so "computer use" matched papers that computed something using something.
# Only nouns whose verb means something else in this field; "controller", "planner",
# "encoder" or "simulator" still fold with what they do.
_THINGS = {
    f"{noun}{s}": noun
    for noun in ("computer", "transformer", "optimizer", "tokenizer", "adapter")
    for s in ("", "s")
} | {"optimiser": "optimizer", "optimisers": "optimizer", "tokeniser": "tokenizer"}


def fold(text: str) -> str:
    """Casefolded, with accents dropped: "Schrödinger" and "schrodinger" are one word."""
    if text.isascii():  # most titles and abstracts: nothing to decompose or drop
        return text.lower()
    text = unicodedata.normalize("NFKD", text).casefold()
    return "".join(c for c in text if not unicodedata.combining(c))


@lru_cache(maxsize=1 << 17)
def stem(word: str) -> str:
    if len(word) <= 2 or not word.isalpha():
        return word
    if word in _THINGS:
        return _THINGS[word]
    if word.endswith("s") and not _VOWEL.search(word):
        return word[:-1]  # "LLMs", "RNNs": Snowball keeps the s of a word with no vowel
    return _STEMMER.stemWord(word)


def tokens(text: str) -> tuple[str, ...]:
    return tuple(stem(w) if w[0].isalnum() else BREAK for w in _WORD.findall(fold(text)))
