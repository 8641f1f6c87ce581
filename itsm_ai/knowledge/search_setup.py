"""How the retrieval service is built from the settings: the BM25 index, the hybrid searcher and the encoder.

Benchmarks build their indexes through these functions, so they measure exactly what the service runs.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

import numpy as np

from itsm_ai.config import get_settings
from itsm_ai.knowledge.hybrid import HybridSearcher
from itsm_ai.knowledge.lexical import LexicalIndex, tokenize
from itsm_ai.knowledge.vector_index import VectorIndex

# Above this many documents BM25 rebuilds in the background after a write; the dense side stays current.
LEXICAL_BACKGROUND_ABOVE = 20_000


def new_lexical_index(settings: Any = None) -> LexicalIndex:
    """The service's BM25 index with the configured k1, b and title weight."""
    s = settings or get_settings()
    return LexicalIndex(
        k1=s.knowledge_bm25_k1,
        b=s.knowledge_bm25_b,
        field_weights={"title": s.knowledge_bm25_title_weight, "body": 1},
        background_above=LEXICAL_BACKGROUND_ABOVE,
    )


def new_hybrid_searcher(
    index: VectorIndex, lexical: LexicalIndex, encoder: Any = None, settings: Any = None
) -> HybridSearcher:
    """The service's hybrid searcher with the configured fusion (benchmarks measure exactly this)."""
    s = settings or get_settings()
    return HybridSearcher(
        index,
        lexical,
        encoder,
        rrf_k=s.knowledge_hybrid_rrf_k,
        candidates=s.knowledge_hybrid_candidates,
        dense_weight=s.knowledge_hybrid_dense_weight,
        lexical_weight=s.knowledge_hybrid_lexical_weight,
        fusion=s.knowledge_hybrid_fusion,
    )

class HashingEncoder:
    """Offline bag-of-words hashing encoder with the Encoder interface (tests, machines without the model)."""

    model_name = "hashing-bow"
    model_version = "hashing-bow==1"
    dimension = 256

    def encode(self, texts: Sequence[str], *, show_progress: bool = False) -> np.ndarray:
        """Embed texts as normalised sums of per-token pseudo-random vectors."""
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for row, text in enumerate(texts):
            for tok in tokenize(text):
                seed = int.from_bytes(hashlib.blake2b(tok.encode(), digest_size=8).digest(), "little")
                out[row] += np.random.default_rng(seed).standard_normal(self.dimension, dtype=np.float32)
            if not out[row].any():
                out[row, 0] = 1.0
        return out / np.linalg.norm(out, axis=1, keepdims=True)


def default_encoder() -> Any:
    """The encoder named by the settings (the shared all-MiniLM-L6-v2 encoder by default)."""
    settings = get_settings()
    if settings.knowledge_encoder == "hash":
        return HashingEncoder()
    from itsm_ai.embeddings import get_encoder

    return get_encoder(settings.embedding_backend, settings.embedding_batch_size)
