"""Dense vector index over faiss with incremental updates, payload filters and safe persistence.

Design notes
------------
* Ids are int64 record keys. faiss stores vectors at dense internal positions; a position -> id array
  (``-1`` for a dead position) plus an id -> position dict play the role of ``IndexIDMap2``. A plain
  ``IndexIDMap2`` cannot be used because HNSW cannot remove vectors: an update would leave the old
  vector answering for the same id.
* Kind: exact search (``IndexFlatIP`` on unit vectors, so scores are cosine similarities) while the
  collection is at most ``exact_threshold`` items, HNSW (``IndexHNSWFlat`` with inner product) above it.
  The kind only changes when the index is rebuilt: on a bulk load into an empty index, or on
  ``compact()``. With ``auto_compact`` a mutation that makes the index cross the threshold (upwards, or
  below half of it downwards, a hysteresis that avoids flapping) compacts at once and pays the rebuild.
* Removal and update (remove + add) never touch the faiss structure: the old position becomes a
  tombstone. Searches over-fetch by the dead ratio and drop tombstones; when tombstones exceed
  ``compact_ratio`` of the stored vectors the index is compacted (rebuilt from the live vectors, which
  faiss can reconstruct). Each compaction follows ``compact_ratio * n`` mutations, so the amortised
  cost per mutation stays small; an exact index compacts in a memory copy, an HNSW one re-inserts
  every live vector (about a minute per 100,000 vectors on two cores).
* Filters: a small payload dict per id (``type``, ``state``, ``category``, ``opened_at``, ...). A search
  with a filter over-fetches and filters; when too few candidates pass it (a selective filter) it
  falls back to an exact scan of the filtered subset, so a filter never loses a match.
* Persistence: ``save(dir)`` writes a new snapshot folder and then swaps ``dir/CURRENT`` with an atomic
  rename, so a reader or a crash never sees a half-written index. ``load`` refuses vectors from a
  different embedding model, model version or dimension.
* Thread safety: a readers-writer lock; searches run concurrently (faiss releases the GIL), mutations
  are exclusive.

faiss is imported lazily inside the methods so that importing this module stays cheap.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import threading
import uuid
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import numpy as np

FORMAT_VERSION = 1
EXACT = "exact"
HNSW = "hnsw"
KINDS = (EXACT, HNSW)
PAYLOAD_FIELDS = ("type", "state", "category", "opened_at")
MAX_HNSW_FETCH = 4096

Filter = Callable[[Mapping[str, Any]], bool] | Mapping[str, Any]


class IndexCompatibilityError(ValueError):
    """Raised when a stored index was built with another embedding model, version or dimension."""


class _RWLock:
    """Many readers or one writer; a waiting writer blocks new readers so writers never starve."""

    def __init__(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._readers = 0
        self._writer = False
        self._writers_waiting = 0

    @contextmanager
    def read(self):
        with self._cond:
            while self._writer or self._writers_waiting:
                self._cond.wait()
            self._readers += 1
        try:
            yield
        finally:
            with self._cond:
                self._readers -= 1
                if not self._readers:
                    self._cond.notify_all()

    @contextmanager
    def write(self):
        with self._cond:
            self._writers_waiting += 1
            while self._writer or self._readers:
                self._cond.wait()
            self._writers_waiting -= 1
            self._writer = True
        try:
            yield
        finally:
            with self._cond:
                self._writer = False
                self._cond.notify_all()


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _clean_payload(payload: Mapping[str, Any] | None) -> dict[str, Any]:
    """Copy a payload, storing dates as ISO-8601 strings so that it round-trips through JSON."""
    out: dict[str, Any] = {}
    for key, value in (payload or {}).items():
        if isinstance(value, datetime | date):
            value = value.isoformat()
        elif isinstance(value, np.generic):
            value = value.item()
        out[str(key)] = value
    return out


def compile_filter(flt: Filter | None) -> Callable[[Mapping[str, Any]], bool] | None:
    """Turn a filter (callable on the payload, or a dict of field conditions) into a predicate.

    In a dict, a scalar value means equality, a list/tuple/set means membership and a callable is
    applied to the field's value (for ranges: ``{"opened_at": lambda v: v >= "2024-01-01"}``).
    A missing field never matches.
    """
    if flt is None:
        return None
    if callable(flt):
        return flt
    if not isinstance(flt, Mapping):
        raise TypeError("filter must be a callable or a dict of field conditions")
    conditions = []
    for field, cond in flt.items():
        if isinstance(cond, datetime | date):
            cond = cond.isoformat()
        if callable(cond):
            conditions.append((field, "call", cond))
        elif isinstance(cond, Collection) and not isinstance(cond, str | bytes):
            conditions.append((field, "in", frozenset(cond)))
        else:
            conditions.append((field, "eq", cond))
    missing = object()

    def predicate(payload: Mapping[str, Any]) -> bool:
        for field, op, cond in conditions:
            value = payload.get(field, missing)
            if value is missing:
                return False
            if op == "eq":
                if value != cond:
                    return False
            elif op == "in":
                if value not in cond:
                    return False
            elif not cond(value):
                return False
        return True

    return predicate


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
        self._lock = _RWLock()
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
            "faiss_version": faiss.__version__,
        }

    # ------------------------------------------------------------------------------------ internals
    def _prepare(self, vectors: Any) -> np.ndarray:
        arr = np.asarray(vectors, dtype=np.float32)
        if arr.ndim == 1:
            arr = arr[None, :]
        if arr.ndim != 2 or arr.shape[1] != self.dimension:
            raise ValueError(f"vectors must have shape (n, {self.dimension}), got {np.shape(vectors)}")
        if not np.isfinite(arr).all():
            raise ValueError("vectors contain NaN or infinite values")
        norms = np.linalg.norm(arr, axis=1, keepdims=True)
        if (norms <= 1e-12).any():
            raise ValueError("vectors must be non-zero")
        # Defensive normalisation: inner product equals cosine only on unit vectors.
        return np.ascontiguousarray(arr / norms, dtype=np.float32)

    def _desired_kind(self, live: int) -> str:
        if self.forced_kind:
            return self.forced_kind
        if self._kind == HNSW:
            return HNSW if live > self.exact_threshold // 2 else EXACT
        return HNSW if live > self.exact_threshold else EXACT

    def _new_faiss(self, kind: str) -> Any:
        import faiss

        if kind == EXACT:
            return faiss.IndexFlatIP(self.dimension)
        index = faiss.IndexHNSWFlat(self.dimension, self.hnsw_m, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = self.ef_construction
        index.hnsw.efSearch = self.ef_search
        return index

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
        clean = [_clean_payload(p) for p in payloads] if payloads is not None else [{}] * len(id_arr)
        with self._lock.write():
            if self._index is None or (self._n == 0 and not self._pos):
                # Bulk load into an empty index: pick the structure for the final size now.
                self._kind = self._desired_kind(len(id_arr)) if self.forced_kind is None else self.forced_kind
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
            self._payload[int(item_id)] = _clean_payload(payload)

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
        if self._kind == HNSW:
            import faiss

            params = faiss.SearchParametersHNSW()
            params.efSearch = max(self.ef_search, fetch)
            return self._index.search(queries, fetch, params=params)
        return self._index.search(queries, fetch)

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
        predicate: Callable[[Mapping[str, Any]], bool] | None,
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
        predicate: Callable[[Mapping[str, Any]], bool] | None,
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
        predicate: Callable[[Mapping[str, Any]], bool] | None,
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

    # ---------------------------------------------------------------------------------- persistence
    def save(self, directory: str | os.PathLike[str], *, keep: int = 2) -> Path:
        """Write a snapshot under ``directory`` and atomically point ``directory/CURRENT`` at it."""
        import faiss

        root = Path(directory)
        root.mkdir(parents=True, exist_ok=True)
        name = f"snapshot-{datetime.now(UTC).strftime('%Y%m%dT%H%M%S%f')}-{uuid.uuid4().hex[:8]}"
        tmp = root / f".tmp-{name}"
        tmp.mkdir()
        try:
            with self._lock.read():
                self._ensure_index()
                faiss.write_index(self._index, str(tmp / "index.faiss"))
                np.save(tmp / "positions.npy", self._ext[: self._n])
                payloads = [[item_id, self._payload[item_id]] for item_id in self._pos]
                meta = self.metadata()
                meta["saved_at"] = _now()
            _write_json(tmp / "payloads.json", payloads)
            _write_json(tmp / "metadata.json", meta)
            os.replace(tmp, root / name)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        pointer = root / f".CURRENT-{uuid.uuid4().hex[:8]}"
        pointer.write_text(name + "\n", encoding="utf-8")
        os.replace(pointer, root / "CURRENT")
        _fsync_dir(root)
        snapshots = sorted(p for p in root.glob("snapshot-*") if p.is_dir())
        for old in snapshots[: max(0, len(snapshots) - max(1, keep))]:
            if old.name != name:
                shutil.rmtree(old, ignore_errors=True)
        return root / name

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
        import faiss

        root = Path(directory)
        pointer = root / "CURRENT"
        if pointer.exists():
            snap = root / pointer.read_text(encoding="utf-8").strip()
        elif (root / "metadata.json").exists():
            snap = root
        else:
            raise FileNotFoundError(f"no saved vector index in {root} (missing CURRENT)")
        meta = json.loads((snap / "metadata.json").read_text(encoding="utf-8"))
        if meta.get("format_version") != FORMAT_VERSION:
            raise IndexCompatibilityError(
                f"index format_version {meta.get('format_version')!r} is not {FORMAT_VERSION}"
            )
        for field, expected in (
            ("model_name", expected_model),
            ("model_version", expected_version),
            ("dimension", expected_dimension),
        ):
            if expected is not None and meta.get(field) != expected:
                raise IndexCompatibilityError(
                    f"index at {snap} was built with {field}={meta.get(field)!r}, expected {expected!r}: "
                    "re-embed the collection and rebuild the index"
                )
        index = faiss.read_index(str(snap / "index.faiss"))
        if index.d != meta["dimension"]:
            raise IndexCompatibilityError(
                f"faiss index dimension {index.d} differs from metadata dimension {meta['dimension']}"
            )
        positions = np.load(snap / "positions.npy")
        if len(positions) != index.ntotal:
            raise ValueError(
                f"corrupt index at {snap}: {len(positions)} positions for {index.ntotal} vectors"
            )
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
        obj._payload = {
            int(item_id): payload
            for item_id, payload in json.loads((snap / "payloads.json").read_text(encoding="utf-8"))
        }
        if set(obj._payload) != set(obj._pos):
            raise ValueError(f"corrupt index at {snap}: payload ids differ from vector ids")
        if obj._kind == HNSW:
            index.hnsw.efSearch = obj.ef_search
        obj.built_at = meta.get("built_at", obj.built_at)
        obj.updated_at = meta.get("updated_at", obj.updated_at)
        obj.compactions = int(meta.get("compactions", 0))
        return obj


def _write_json(path: Path, data: Any) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(data, fh, ensure_ascii=False, default=str)
        fh.flush()
        os.fsync(fh.fileno())


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # pragma: no cover - not every platform opens directories
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
