"""The read path of the vector index: over-fetch past tombstones, payload filters, efSearch tuning.

Removed and updated items leave tombstones in the faiss structure, so a search over-fetches by the dead
ratio and drops them. A filtered search over-fetches further and filters; when too few candidates pass
(a selective filter) it falls back to an exact scan of the filtered subset, so a filter never loses a
match. Searches run under the index's read lock, concurrently (faiss releases the GIL).

faiss is imported lazily (through ``vector_backend`` and ``ann``) so that importing this module stays cheap.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Sequence
from typing import Any

import numpy as np

from itsm_ai.knowledge.vector_backend import EXACT, HNSW, faiss_search
from itsm_ai.knowledge.vector_filters import Filter, Predicate, compile_filter

MAX_HNSW_FETCH = 4096


class SearchMixin:
    """Search methods of ``VectorIndex``; they read the state that ``VectorIndex`` keeps and mutates."""

    # Set by VectorIndex.__init__ (which also provides ``_prepare``); declared here for readers.
    ef_search: int
    ef_search_tuning: dict[str, Any] | None
    overfetch: int
    _lock: Any
    _index: Any
    _kind: str
    _ext: np.ndarray  # position -> id, -1 = tombstone
    _n: int  # positions used in the faiss index
    _pos: dict[int, int]  # id -> position
    _payload: dict[int, dict[str, Any]]
    _dead: int

    def _faiss_search(self, queries: np.ndarray, fetch: int) -> tuple[np.ndarray, np.ndarray]:
        return faiss_search(self._index, self._kind, queries, fetch, self.ef_search)

    def _initial_fetch(self, k: int) -> int:
        if not self._dead:
            return min(k, self._n)
        dead_ratio = self._dead / self._n
        return min(self._n, math.ceil(k / max(1e-6, 1 - dead_ratio) * 1.2) + 2)

    def _collect(
        self,
        scores: np.ndarray,
        positions: np.ndarray,
        k: int,
        predicate: Predicate | None,
        exclude: Collection[int],
    ) -> list[tuple[int, float]]:
        ids = self._ext[np.where(positions >= 0, positions, 0)]
        ids = np.where(positions >= 0, ids, -1)
        hits: list[tuple[int, float]] = []
        for item_id, score in zip(ids.tolist(), scores.tolist(), strict=True):
            if item_id < 0 or item_id in exclude:
                continue
            if predicate is not None and not predicate(self._payload[item_id]):
                continue
            hits.append((item_id, score))
            if len(hits) == k:
                break
        return hits

    def _exact_subset(
        self,
        query: np.ndarray,
        k: int,
        predicate: Predicate | None,
        exclude: Collection[int],
    ) -> list[tuple[int, float]]:
        chosen = [
            (item_id, pos)
            for item_id, pos in self._pos.items()
            if item_id not in exclude and (predicate is None or predicate(self._payload[item_id]))
        ]
        if not chosen:
            return []
        positions = np.fromiter((p for _, p in chosen), dtype=np.int64, count=len(chosen))
        vectors = self._index.reconstruct_batch(positions)
        scores = vectors @ query
        top = np.argsort(-scores, kind="stable")[:k]
        return [(chosen[i][0], float(scores[i])) for i in top]

    def _search_one(
        self,
        query: np.ndarray,
        k: int,
        predicate: Predicate | None,
        exclude: Collection[int],
        first: tuple[np.ndarray, np.ndarray] | None = None,
        first_fetch: int = 0,
    ) -> list[tuple[int, float]]:
        live = len(self._pos)
        if live == 0:
            return []
        k_eff = min(k, live)
        fetch = first_fetch or self._initial_fetch(k_eff + len(exclude))
        if predicate is not None and not first_fetch:
            fetch = min(self._n, max(fetch, (k_eff + len(exclude)) * self.overfetch))
        for _attempt in range(4):
            if first is not None:
                scores, positions = first
                first = None
            else:
                scores, positions = self._faiss_search(query[None, :], fetch)
                scores, positions = scores[0], positions[0]
            hits = self._collect(scores, positions, k_eff, predicate, exclude)
            if len(hits) >= k_eff or fetch >= self._n:
                if fetch >= self._n and self._kind == HNSW and len(hits) < k_eff:
                    break  # HNSW can miss items at full fetch: finish exactly
                return hits
            seen = int((positions >= 0).sum())
            passed = max(len(hits), 1)
            # Estimate how many candidates would yield k hits; a selective filter goes exact at once.
            need = math.ceil(fetch * k_eff / passed * 1.5) if seen else self._n
            # Past a quarter of the collection (or a few thousand candidates for HNSW, whose cost grows
            # with efSearch) a scan of the filtered subset is cheaper than a wider graph search.
            limit = self._n // 4 if self._kind == EXACT else min(self._n // 4, MAX_HNSW_FETCH)
            if predicate is not None and need > limit:
                break
            fetch = min(self._n, max(fetch * 2, need))
        return self._exact_subset(query, k_eff, predicate, exclude)

    def search(
        self,
        vector: Any,
        k: int = 10,
        filter: Filter | None = None,
        *,
        exclude: Collection[int] = (),
    ) -> list[tuple[int, float]]:
        """Return up to k (id, cosine score) pairs, best first, among items passing the filter."""
        if k <= 0:
            return []
        query = self._prepare(vector)[0]
        predicate = compile_filter(filter)
        exclude = frozenset(int(i) for i in exclude) if exclude else frozenset()
        with self._lock.read():
            if self._index is None or not self._pos:
                return []
            return self._search_one(query, k, predicate, exclude)

    def search_many(
        self,
        vectors: Any,
        k: int = 10,
        filter: Filter | None = None,
        *,
        exclude: Sequence[Collection[int]] | None = None,
    ) -> list[list[tuple[int, float]]]:
        """Batch version of ``search``: one faiss call for all queries, per-query fallbacks as needed."""
        queries = self._prepare(vectors)
        if exclude is not None and len(exclude) != len(queries):
            raise ValueError("exclude must have one entry per query")
        predicate = compile_filter(filter)
        if k <= 0:
            return [[] for _ in range(len(queries))]
        with self._lock.read():
            if self._index is None or not self._pos:
                return [[] for _ in range(len(queries))]
            extra = max((len(e) for e in exclude), default=0) if exclude else 0
            k_eff = min(k, len(self._pos))
            fetch = self._initial_fetch(k_eff + extra)
            if predicate is not None:
                fetch = min(self._n, max(fetch, (k_eff + extra) * self.overfetch))
            all_scores, all_pos = self._faiss_search(queries, fetch)
            out = []
            for row, query in enumerate(queries):
                excl = frozenset(int(i) for i in exclude[row]) if exclude else frozenset()
                out.append(
                    self._search_one(
                        query, k, predicate, excl, first=(all_scores[row], all_pos[row]), first_fetch=fetch
                    )
                )
            return out

    def tune_ef_search(
        self,
        queries: Any = None,
        *,
        target_recall: float = 0.95,
        k: int = 10,
        sample: int = 200,
        random_state: int = 0,
    ) -> dict[str, Any]:
        """Set ef_search to the smallest value reaching recall@k >= target on a sample; record why."""
        from itsm_ai.knowledge.ann import tune_ef_search

        prepared = None if queries is None else self._prepare(queries)
        with self._lock.read():
            if self._kind != HNSW or self._index is None:
                raise ValueError("efSearch tuning needs an HNSW index (kind='hnsw')")
            alive = np.flatnonzero(self._ext[: self._n] >= 0)
            result = tune_ef_search(
                self._index,
                alive,
                queries=prepared,
                target_recall=target_recall,
                k=k,
                sample=sample,
                random_state=random_state,
            )
        with self._lock.write():
            self.ef_search = result["ef_search"]
            self._index.hnsw.efSearch = self.ef_search
            self.ef_search_tuning = result
        return result
