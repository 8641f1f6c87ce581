"""Text features of the intent detector: TF-IDF word 1-2-grams and character 2-5-grams (within word
boundaries), L2-normalised, optionally joined with MiniLM sentence embeddings, which are cached per text (so
the knowledge search of the same chat turn reuses the vector) and computed lazily."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.preprocessing import normalize

# ------------------------------------------------------------------------------------------- embeddings

_cache_lock = threading.Lock()
_embedding_cache: dict[str, np.ndarray] = {}
EMBEDDING_CACHE_LIMIT = 30_000  # ~46 MB of 384-d float32 vectors at most


def prime_embeddings(texts: Sequence[str], vectors: np.ndarray) -> None:
    """Remember precomputed embeddings (benchmarks load them from disk instead of re-encoding)."""
    with _cache_lock:
        for text, vec in zip(texts, vectors, strict=True):
            if len(_embedding_cache) >= EMBEDDING_CACHE_LIMIT:
                break
            _embedding_cache[text] = np.asarray(vec, dtype=np.float32)


def clear_embedding_cache() -> None:
    """Forget cached embeddings."""
    with _cache_lock:
        _embedding_cache.clear()


def cached_embedding(text: str) -> np.ndarray | None:
    """The MiniLM vector of a text embedded before (so a retrieval query can reuse it), or None."""
    return _embedding_cache.get(text)


def embed(texts: Sequence[str]) -> np.ndarray:
    """Unit-length MiniLM vectors for texts, cached; the model is loaded on first use only."""
    missing = [t for t in dict.fromkeys(texts) if t not in _embedding_cache]
    if missing:
        from itsm_ai.embeddings import get_encoder

        vectors = get_encoder().encode(missing)
        with _cache_lock:
            if len(_embedding_cache) + len(missing) > EMBEDDING_CACHE_LIMIT:
                _embedding_cache.clear()
            for text, vec in zip(missing, vectors, strict=True):
                _embedding_cache[text] = vec
        lookup = dict(zip(missing, vectors, strict=True))
    else:
        lookup = {}
    rows = [lookup[t] if t in lookup else _embedding_cache[t] for t in texts]
    if not rows:
        from itsm_ai.embeddings import get_encoder

        return np.zeros((0, get_encoder().dimension), dtype=np.float32)
    return np.vstack(rows).astype(np.float32)


# ------------------------------------------------------------------------------------------- TF-IDF


class TextFeatures:
    """Lexical TF-IDF (fitted on the training texts) plus, optionally, weighted MiniLM embeddings."""

    def __init__(self, params: dict[str, Any]):
        self.p = params

    def fit(self, texts: list[str]) -> TextFeatures:
        """Learn the vocabularies from the training texts."""
        p = self.p
        self.word = TfidfVectorizer(
            analyzer="word",
            ngram_range=tuple(p["word_ngrams"]),
            sublinear_tf=True,
            min_df=1,
            token_pattern=r"(?u)\b\w+\b",
            dtype=np.float32,
            max_features=p.get("max_word_features"),
        )
        self.char = TfidfVectorizer(
            analyzer="char_wb",
            ngram_range=tuple(p["char_ngrams"]),
            sublinear_tf=True,
            min_df=1,
            dtype=np.float32,
            max_features=p["max_char_features"],
        )
        self.word.fit(texts)
        self.char.fit(texts)
        return self

    def lexical(self, texts: list[str]) -> sp.csr_matrix:
        """L2-normalised word and character n-gram TF-IDF rows."""
        return normalize(sp.hstack([self.word.transform(texts), self.char.transform(texts)], format="csr"))

    def embeddings(self, texts: list[str]) -> np.ndarray | None:
        """MiniLM vectors when the features use them, else None."""
        return embed(texts) if self.p["embeddings"] else None

    def join(self, lexical: sp.csr_matrix, emb: np.ndarray | None) -> sp.csr_matrix:
        """One sparse matrix of lexical and (weighted) embedding columns."""
        if emb is None:
            return lexical
        weighted = sp.csr_matrix(emb * self.p["embedding_weight"])
        return sp.hstack([lexical, weighted], format="csr")

    def transform(self, texts: list[str]) -> sp.csr_matrix:
        """Features of texts."""
        return self.join(self.lexical(texts), self.embeddings(texts))
