"""How the retrieval service's BM25 index and hybrid searcher are built from the settings.

Benchmarks build their indexes through these functions, so they measure exactly what the service runs.
"""

from __future__ import annotations

from typing import Any

from itsm_ai.config import get_settings
from itsm_ai.knowledge.retrieval.hybrid import HybridSearcher
from itsm_ai.knowledge.retrieval.lexical import LexicalIndex
from itsm_ai.knowledge.retrieval.vector_index import VectorIndex

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
        collapse_duplicates=s.knowledge_collapse_duplicates,
    )
