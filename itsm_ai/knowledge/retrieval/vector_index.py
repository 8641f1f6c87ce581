"""Dense vector index over faiss with incremental updates, payload filters and safe persistence.

Design notes
------------
* Ids are int64 record keys. faiss stores vectors at dense internal positions; a position -> id array
  (``-1`` for a dead position) plus an id -> position dict play the role of ``IndexIDMap2``. A plain
  ``IndexIDMap2`` cannot be used because HNSW cannot remove vectors: an update would leave the old
  vector answering for the same id.
* Kind (``vector_backend``): exact search while the collection is at most ``exact_threshold`` items,
  HNSW above it. The kind only changes when the index is rebuilt: on a bulk load into an empty index, or
  on ``compact()``. With ``auto_compact`` a mutation that makes the index cross the threshold (upwards,
  or below half of it downwards) compacts at once and pays the rebuild.
* Removal and update (remove + add) never touch the faiss structure: the old position becomes a
  tombstone, which a search skips (it over-fetches by the dead ratio). When tombstones exceed
  ``compact_ratio`` of the stored vectors the index is compacted (rebuilt from the live vectors).
  Each compaction follows ``compact_ratio * n`` mutations, so the amortised cost per mutation stays
  small; an HNSW rebuild re-inserts every live vector (about a minute per 100,000 on two cores).
* Filters (``vector_filters``): a small payload dict per id; a filtered search over-fetches further and
  filters; when too few candidates pass (a selective filter) it falls back to an exact scan of the filtered
  subset, so a filter never loses a match.
* efSearch tuning (``vector_tuning``): the smallest efSearch reaching a recall target, with its evidence.
* Persistence (``vector_snapshot``): ``save(dir)`` writes a new snapshot folder and atomically swaps
  ``dir/CURRENT``; ``load`` refuses vectors from a different embedding model, version or dimension.
* Thread safety: a readers-writer lock; searches run concurrently (faiss releases the GIL), mutations are
  exclusive.

faiss is imported lazily inside the methods so that importing this module stays cheap.
"""

from __future__ import annotations

import math
import os
from collections.abc import Collection, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from itsm_ai.knowledge.retrieval.rwlock import RWLock
from itsm_ai.knowledge.retrieval.vector_backend import (
    EXACT,
    HNSW,
    KINDS,
    choose_kind,
    faiss_search,
    new_faiss,
    prepare_vectors,
)
from itsm_ai.knowledge.retrieval.vector_filters import Filter, Predicate, clean_payload, compile_filter
from itsm_ai.knowledge.retrieval.vector_snapshot import (
    FORMAT_VERSION,
    publish_snapshot,
    read_snapshot,
    write_json,
)
from itsm_ai.knowledge.retrieval.vector_tuning import tune_ef_search

# Past this many candidates a filtered HNSW search scans the filtered subset instead (efSearch cost grows).
MAX_HNSW_FETCH = 4096


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class VectorIndex:
    """Cosine-similarity index of unit vectors keyed by int64 ids, exact or HNSW, with tombstones."""

    def __init__(
        self,
        dimension: int = 384,
        *,
        model_name: str = "",
        model_version: str = "",
        exact_threshold: int = 20_000,
        hnsw_m: int = 32,
        ef_construction: int = 200,
        ef_search: int = 128,
        overfetch: int = 4,
        compact_ratio: float = 0.25,
        auto_compact: bool = True,
        kind: str | None = None,
    ):
        if dimension <= 0:
            raise ValueError("dimension must be positive")
        if kind is not None and kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS} or None, got {kind!r}")
        if not 0 < compact_ratio < 1:
            raise ValueError("compact_ratio must be between 0 and 1")
        self.dimension = int(dimension)
        self.model_name = model_name
        self.model_version = model_version
        self.exact_threshold = int(exact_threshold)
        self.hnsw_m = int(hnsw_m)
        self.ef_construction = int(ef_construction)
        self.ef_search = int(ef_search)
        self.overfetch = max(1, int(overfetch))
        self.compact_ratio = float(compact_ratio)
        self.auto_compact = auto_compact
        self.forced_kind = kind
        self._lock = RWLock()
        self._index: Any = None
        self._kind = kind or EXACT
        self._ext = np.empty(0, dtype=np.int64)  # position -> id, -1 = tombstone
        self._n = 0  # positions used in the faiss index
        self._pos: dict[int, int] = {}  # id -> position
        self._payload: dict[int, dict[str, Any]] = {}
        self._dead = 0
        self.built_at = _now()
        self.updated_at = self.built_at
        self.compactions = 0
        self.ef_search_tuning: dict[str, Any] | None = None  # evidence behind a tuned ef_search

    @classmethod
    def for_encoder(cls, encoder: Any, **params: Any) -> VectorIndex:
        """Create an empty index stamped with an encoder's model name, version and dimension."""
        return cls(
            encoder.dimension, model_name=encoder.model_name, model_version=encoder.model_version, **params
        )

    # ----------------------------------------------------------------------------------------- info
    @property
    def kind(self) -> str:
        """The current faiss structure: "exact" or "hnsw"."""
        return self._kind

    @property
    def params(self) -> dict[str, Any]:
        """Build and search parameters, as recorded in the saved metadata."""
        return {
            "exact_threshold": self.exact_threshold,
            "hnsw_m": self.hnsw_m,
            "ef_construction": self.ef_construction,
            "ef_search": self.ef_search,
            "overfetch": self.overfetch,
            "compact_ratio": self.compact_ratio,
            "auto_compact": self.auto_compact,
            "forced_kind": self.forced_kind,
        }

    @property
    def tombstones(self) -> int:
        """Number of dead positions still stored in the faiss structure."""
        return self._dead

    @property
    def faiss_index(self) -> Any:
        """The underlying faiss index (positions, not ids); for benchmarks and diagnostics."""
        return self._index

    def __len__(self) -> int:
        return len(self._pos)

    def __contains__(self, item_id: object) -> bool:
        return item_id in self._pos

    def ids(self) -> list[int]:
        """Live ids, in insertion order of their current vectors."""
        with self._lock.read():
            return [int(i) for i in self._ext[: self._n] if i >= 0]

    def payload(self, item_id: int) -> dict[str, Any] | None:
        """The payload stored for an id (a copy), or None when the id is absent."""
        with self._lock.read():
            found = self._payload.get(int(item_id))
            return dict(found) if found is not None else None

    def get_vector(self, item_id: int) -> np.ndarray | None:
        """The stored unit vector of an id, or None when absent."""
        with self._lock.read():
            pos = self._pos.get(int(item_id))
            return None if pos is None else self._index.reconstruct(pos)

    def metadata(self) -> dict[str, Any]:
        """The metadata written next to a saved index."""
        import faiss

        return {
            "format_version": FORMAT_VERSION,
            "model_name": self.model_name,
            "model_version": self.model_version,
            "dimension": self.dimension,
            "count": len(self._pos),
            "stored": self._n,
            "tombstones": self._dead,
            "kind": self._kind,
            "params": self.params,
            "built_at": self.built_at,
            "updated_at": self.updated_at,
            "compactions": self.compactions,
            "ef_search_tuning": self.ef_search_tuning,
            "faiss_version": faiss.__version__,
        }

    # ------------------------------------------------------------------------------------ internals
    def _prepare(self, vectors: Any) -> np.ndarray:
        return prepare_vectors(vectors, self.dimension)

    def _desired_kind(self, live: int) -> str:
        return choose_kind(
            live, current=self._kind, exact_threshold=self.exact_threshold, forced=self.forced_kind
        )

    def _new_faiss(self, kind: str) -> Any:
        return new_faiss(
            kind,
            self.dimension,
            hnsw_m=self.hnsw_m,
            ef_construction=self.ef_construction,
            ef_search=self.ef_search,
        )

    def _ensure_index(self) -> None:
        if self._index is None:
            self._index = self._new_faiss(self._kind)

    def _grow(self, extra: int) -> None:
        need = self._n + extra
        if need > len(self._ext):
            cap = max(need, 2 * len(self._ext), 1024)
            grown = np.full(cap, -1, dtype=np.int64)
            grown[: self._n] = self._ext[: self._n]
            self._ext = grown

    def _kill(self, item_id: int) -> None:
        pos = self._pos.pop(item_id)
        self._ext[pos] = -1
        self._payload.pop(item_id, None)
        self._dead += 1

    def _needs_compaction(self) -> bool:
        if self._n and self._dead / self._n > self.compact_ratio:
            return True
        return self._n > 0 and self._desired_kind(len(self._pos)) != self._kind

    def _rebuild(self, kind: str) -> None:
        alive = np.flatnonzero(self._ext[: self._n] >= 0)
        vectors = self._index.reconstruct_n(0, self._n)[alive] if self._n else None
        ids = self._ext[alive].copy()
        index = self._new_faiss(kind)
        if vectors is not None and len(vectors):
            index.add(vectors)
        self._index = index
        self._kind = kind
        self._ext = np.full(max(len(ids), 1024), -1, dtype=np.int64)
        self._ext[: len(ids)] = ids
        self._n = len(ids)
        self._pos = {int(i): p for p, i in enumerate(ids)}
        self._dead = 0
        self.built_at = _now()
        self.compactions += 1

    # ------------------------------------------------------------------------------------ mutations
    def add(self, item_id: int, vector: Any, payload: Mapping[str, Any] | None = None) -> None:
        """Add or replace one item (an update is a remove followed by an add)."""
        self.add_many([item_id], np.asarray(vector)[None, :] if np.ndim(vector) == 1 else vector, [payload])

    def add_many(
        self,
        ids: Sequence[int] | np.ndarray,
        vectors: Any,
        payloads: Sequence[Mapping[str, Any] | None] | None = None,
    ) -> None:
        """Add or replace many items; an id already present is updated."""
        id_arr = np.asarray(ids, dtype=np.int64).reshape(-1)
        vecs = self._prepare(vectors)
        if len(id_arr) != len(vecs):
            raise ValueError(f"{len(id_arr)} ids but {len(vecs)} vectors")
        if payloads is not None and len(payloads) != len(id_arr):
            raise ValueError(f"{len(id_arr)} ids but {len(payloads)} payloads")
        if (id_arr < 0).any():
            raise ValueError("ids must be non-negative int64 record keys")
        if len(np.unique(id_arr)) != len(id_arr):
            # Keep the last occurrence of a repeated id, as sequential adds would.
            last = {int(i): j for j, i in enumerate(id_arr)}
            keep = np.array(sorted(last.values()))
            id_arr, vecs = id_arr[keep], vecs[keep]
            payloads = [payloads[j] for j in keep] if payloads is not None else None
        if not len(id_arr):
            return
        clean = [clean_payload(p) for p in payloads] if payloads is not None else [{}] * len(id_arr)
        with self._lock.write():
            if self._index is None or (self._n == 0 and not self._pos):
                # Bulk load into an empty index: pick the structure for the final size now.
                self._kind = self._desired_kind(len(id_arr))  # honours forced_kind
                self._index = self._new_faiss(self._kind)
                self.built_at = _now()
            for item_id in id_arr.tolist():
                if item_id in self._pos:
                    self._kill(item_id)
            self._grow(len(id_arr))
            self._index.add(vecs)
            start = self._n
            self._ext[start : start + len(id_arr)] = id_arr
            for offset, item_id in enumerate(id_arr.tolist()):
                self._pos[item_id] = start + offset
                self._payload[item_id] = clean[offset]
            self._n += len(id_arr)
            self.updated_at = _now()
            if self.auto_compact and self._needs_compaction():
                self._rebuild(self._desired_kind(len(self._pos)))

    update = add

    def update_payload(self, item_id: int, payload: Mapping[str, Any]) -> None:
        """Replace the payload of an id without touching its vector."""
        with self._lock.write():
            if int(item_id) not in self._pos:
                raise KeyError(item_id)
            self._payload[int(item_id)] = clean_payload(payload)

    def remove(self, item_id: int) -> bool:
        """Remove an id; returns False when it was not present."""
        return self.remove_many([item_id]) == 1

    def remove_many(self, ids: Iterable[int]) -> int:
        """Remove ids (absent ids are ignored); returns how many were removed."""
        removed = 0
        with self._lock.write():
            for item_id in ids:
                if int(item_id) in self._pos:
                    self._kill(int(item_id))
                    removed += 1
            if removed:
                self.updated_at = _now()
                if self.auto_compact and self._needs_compaction():
                    self._rebuild(self._desired_kind(len(self._pos)))
        return removed

    @property
    def needs_compaction(self) -> bool:
        """True when tombstones exceed ``compact_ratio`` or the size calls for the other kind."""
        with self._lock.read():
            return self._needs_compaction()

    def compact(self, kind: str | None = None) -> None:
        """Rebuild from the live vectors: drops tombstones and switches kind when the size crossed."""
        if kind is not None and kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}")
        with self._lock.write():
            self._ensure_index()
            self._rebuild(kind or self._desired_kind(len(self._pos)))

    # --------------------------------------------------------------------------------------- search
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

    # ---------------------------------------------------------------------------------- persistence
    def save(self, directory: str | os.PathLike[str], *, keep: int = 2) -> Path:
        """Write a snapshot under ``directory`` and atomically point ``directory/CURRENT`` at it."""
        import faiss

        def write(folder: Path) -> None:
            with self._lock.read():
                self._ensure_index()
                faiss.write_index(self._index, str(folder / "index.faiss"))
                np.save(folder / "positions.npy", self._ext[: self._n])
                payloads = [[item_id, self._payload[item_id]] for item_id in self._pos]
                meta = self.metadata()
                meta["saved_at"] = _now()
            write_json(folder / "payloads.json", payloads)
            write_json(folder / "metadata.json", meta)

        return publish_snapshot(directory, write, keep=keep)

    @classmethod
    def load(
        cls,
        directory: str | os.PathLike[str],
        *,
        expected_model: str | None = None,
        expected_version: str | None = None,
        expected_dimension: int | None = None,
    ) -> VectorIndex:
        """Load the current snapshot; refuses another embedding model, version or dimension."""
        snap = read_snapshot(
            directory,
            expected_model=expected_model,
            expected_version=expected_version,
            expected_dimension=expected_dimension,
        )
        meta, index, positions = snap.meta, snap.index, snap.positions
        params = dict(meta["params"])
        forced = params.pop("forced_kind", None)
        obj = cls(
            meta["dimension"],
            model_name=meta["model_name"],
            model_version=meta["model_version"],
            kind=forced,
            **params,
        )
        obj._index = index
        obj._kind = meta["kind"]
        obj._n = int(index.ntotal)
        obj._ext = np.full(max(obj._n, 1024), -1, dtype=np.int64)
        obj._ext[: obj._n] = positions
        alive = np.flatnonzero(positions >= 0)
        obj._pos = {int(positions[p]): int(p) for p in alive}
        obj._dead = obj._n - len(obj._pos)
        obj._payload = snap.payloads
        if set(obj._payload) != set(obj._pos):
            raise ValueError(f"corrupt index at {snap.path}: payload ids differ from vector ids")
        if obj._kind == HNSW:
            index.hnsw.efSearch = obj.ef_search
        obj.built_at = meta.get("built_at", obj.built_at)
        obj.updated_at = meta.get("updated_at", obj.updated_at)
        obj.compactions = int(meta.get("compactions", 0))
        obj.ef_search_tuning = meta.get("ef_search_tuning")
        return obj
