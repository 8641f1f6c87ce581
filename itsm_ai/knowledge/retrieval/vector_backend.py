"""The faiss structure behind the vector index: exact or HNSW, chosen by collection size.

Exact search (``IndexFlatIP`` on unit vectors, so scores are cosine similarities) serves collections of
at most ``exact_threshold`` items, HNSW (``IndexHNSWFlat`` with inner product) larger ones. Leaving HNSW
waits until the collection is at most half the threshold, a hysteresis that avoids flapping.

faiss is imported lazily inside the functions so that importing this module stays cheap.
"""

from __future__ import annotations

from typing import Any

import numpy as np

EXACT = "exact"
HNSW = "hnsw"
KINDS = (EXACT, HNSW)


def prepare_vectors(vectors: Any, dimension: int) -> np.ndarray:
    """Validate vectors as finite, non-zero rows of ``dimension`` floats and scale them to unit length."""
    arr = np.asarray(vectors, dtype=np.float32)
    if arr.ndim == 1:
        arr = arr[None, :]
    if arr.ndim != 2 or arr.shape[1] != dimension:
        raise ValueError(f"vectors must have shape (n, {dimension}), got {np.shape(vectors)}")
    if not np.isfinite(arr).all():
        raise ValueError("vectors contain NaN or infinite values")
    norms = np.linalg.norm(arr, axis=1, keepdims=True)
    if (norms <= 1e-12).any():
        raise ValueError("vectors must be non-zero")
    # Defensive normalisation: inner product equals cosine only on unit vectors.
    return np.ascontiguousarray(arr / norms, dtype=np.float32)


def choose_kind(live: int, *, current: str, exact_threshold: int, forced: str | None) -> str:
    """The structure for ``live`` items: the forced kind, else by threshold with hysteresis below HNSW."""
    if forced:
        return forced
    if current == HNSW:
        return HNSW if live > exact_threshold // 2 else EXACT
    return HNSW if live > exact_threshold else EXACT


def new_faiss(kind: str, dimension: int, *, hnsw_m: int, ef_construction: int, ef_search: int) -> Any:
    """An empty inner-product faiss index of the given kind."""
    import faiss

    if kind == EXACT:
        return faiss.IndexFlatIP(dimension)
    index = faiss.IndexHNSWFlat(dimension, hnsw_m, faiss.METRIC_INNER_PRODUCT)
    index.hnsw.efConstruction = ef_construction
    index.hnsw.efSearch = ef_search
    return index


def faiss_search(
    index: Any, kind: str, queries: np.ndarray, fetch: int, ef_search: int
) -> tuple[np.ndarray, np.ndarray]:
    """Top-``fetch`` (scores, positions) per query; HNSW widens efSearch to at least ``fetch``."""
    if kind == HNSW:
        import faiss

        params = faiss.SearchParametersHNSW()
        params.efSearch = max(ef_search, fetch)
        return index.search(queries, fetch, params=params)
    return index.search(queries, fetch)
