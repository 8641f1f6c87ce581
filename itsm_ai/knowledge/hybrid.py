"""Hybrid retrieval: reciprocal rank fusion of BM25 and dense results over the same ids."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from itsm_ai.knowledge.lexical import LexicalIndex
from itsm_ai.knowledge.vector_index import Filter, VectorIndex, compile_filter

MODES = ("dense", "lexical", "hybrid")


@dataclass(frozen=True, slots=True)
class Hit:
    """One search result; ranks are 1-based and None when the id was not in that list."""

    id: int
    score: float
    dense_rank: int | None = None
    lexical_rank: int | None = None
    dense_score: float | None = None
    lexical_score: float | None = None


def reciprocal_rank_fusion(
    rankings: Sequence[Sequence[int]],
    *,
    k: int = 60,
    weights: Sequence[float] | None = None,
) -> list[tuple[int, float]]:
    """Fuse ranked id lists: score(id) = sum_i w_i / (k + rank_i(id)), ranks from 1; best first."""
    if k < 0:
        raise ValueError("k must be >= 0")
    if weights is None:
        weights = [1.0] * len(rankings)
    if len(weights) != len(rankings):
        raise ValueError(f"{len(rankings)} rankings but {len(weights)} weights")
    fused: dict[int, float] = {}
    best: dict[int, int] = {}
    for ranking, weight in zip(rankings, weights, strict=True):
        for rank, item_id in enumerate(ranking, start=1):
            fused[item_id] = fused.get(item_id, 0.0) + weight / (k + rank)
            best[item_id] = min(best.get(item_id, rank), rank)
    # Ties (same fused score) go to the id with the better single rank, then the smaller id.
    return sorted(fused.items(), key=lambda kv: (-kv[1], best[kv[0]], kv[0]))


class HybridSearcher:
    """Search one collection by text in dense, lexical or hybrid (RRF) mode, with payload filters.

    Both indexes hold the same ids; filters are evaluated on the vector index's payloads (the lexical
    index holds text only). In hybrid mode each side contributes its top ``candidates`` to the fusion.
    """

    def __init__(
        self,
        vector_index: VectorIndex,
        lexical_index: LexicalIndex,
        encoder: Any = None,
        *,
        rrf_k: int = 60,
        candidates: int = 50,
        dense_weight: float = 1.0,
        lexical_weight: float = 1.0,
    ):
        self.vector_index = vector_index
        self.lexical_index = lexical_index
        self.encoder = encoder
        self.rrf_k = rrf_k
        self.candidates = candidates
        self.dense_weight = dense_weight
        self.lexical_weight = lexical_weight

    def _encode(self, text: str | Mapping[str, str | None]) -> np.ndarray:
        if self.encoder is None:
            raise ValueError("dense and hybrid search need an encoder or a precomputed vector")
        if isinstance(text, Mapping):
            text = " . ".join(v for v in text.values() if v)
        return self.encoder.encode([text])[0]

    def _lexical_allow(self, filters: Filter | None):
        predicate = compile_filter(filters)
        if predicate is None:
            return None
        index = self.vector_index

        def allow(item_id: int) -> bool:
            payload = index.payload(item_id)
            return payload is not None and predicate(payload)

        return allow

    def search(
        self,
        text: str | Mapping[str, str | None],
        k: int = 10,
        filters: Filter | Mapping[str, Any] | None = None,
        mode: str = "hybrid",
        *,
        vector: Any = None,
        exclude: Collection[int] = (),
    ) -> list[Hit]:
        """Return the k best hits for a text (or a dict of fields); ``vector`` skips encoding."""
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        if k <= 0:
            return []
        exclude = frozenset(exclude)
        depth = k if mode != "hybrid" else max(k, self.candidates)
        dense: list[tuple[int, float]] = []
        lexical: list[tuple[int, float]] = []
        if mode in ("dense", "hybrid"):
            query = self._encode(text) if vector is None else vector
            dense = self.vector_index.search(query, depth, filters, exclude=exclude)
        if mode in ("lexical", "hybrid"):
            lexical = self.lexical_index.search(
                text, depth, allow=self._lexical_allow(filters), exclude=exclude
            )
        if mode == "dense":
            return [Hit(i, s, dense_rank=r, dense_score=s) for r, (i, s) in enumerate(dense, 1)]
        if mode == "lexical":
            return [Hit(i, s, lexical_rank=r, lexical_score=s) for r, (i, s) in enumerate(lexical, 1)]
        fused = reciprocal_rank_fusion(
            [[i for i, _ in dense], [i for i, _ in lexical]],
            k=self.rrf_k,
            weights=[self.dense_weight, self.lexical_weight],
        )
        d_rank = {i: (r, s) for r, (i, s) in enumerate(dense, 1)}
        l_rank = {i: (r, s) for r, (i, s) in enumerate(lexical, 1)}
        hits = []
        for item_id, score in fused[:k]:
            dr, ds = d_rank.get(item_id, (None, None))
            lr, ls = l_rank.get(item_id, (None, None))
            hits.append(Hit(item_id, score, dr, lr, ds, ls))
        return hits
