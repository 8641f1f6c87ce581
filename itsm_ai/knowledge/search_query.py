"""The retrieval service's queries: embedding a query, hybrid and dense search, hits read back from the DB."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from itsm_ai.knowledge.docs import MODELS, Doc, doc_for, item_for, make_filter, make_key, split_key
from itsm_ai.knowledge.search_setup import new_hybrid_searcher


class QueryMixin:
    """Search methods of ``RetrievalService`` (which holds the index, BM25, encoder and sync queue)."""

    def encode(self, text: str) -> np.ndarray:
        """Embed one query text (cached: the same text is indexed when its ticket commits)."""
        return np.asarray(self.vectors.encode(self.encoder, [text])[0], dtype=np.float32)

    def vector_of(self, record_type: str, record_id: int) -> np.ndarray | None:
        """The stored vector of a record, if indexed."""
        self.flush()
        return self.index.get_vector(make_key(record_type, record_id)) if self.index is not None else None

    def raw_search(
        self,
        text: str,
        *,
        k: int = 10,
        predicate: Callable[[dict[str, Any]], bool] | None = None,
        vector: np.ndarray | None = None,
        exclude: Iterable[int] = (),
        mode: str = "hybrid",
    ) -> list[tuple[int, float]]:
        """(key, cosine) pairs in hybrid rank order; the cosine of the query and the stored vector."""
        self.flush()
        index = self.index
        if index is None or not len(index):
            return []
        if vector is None:
            vector = self.encode(text)
        if mode != "dense":
            self._apply_deferred_lexical(predicate)
        searcher = new_hybrid_searcher(index, self.lexical, self.encoder, self.settings)
        hits = searcher.search(text, k, predicate, mode=mode, vector=vector, exclude=frozenset(exclude))
        out = []
        for hit in hits:
            if hit.dense_score is not None:
                score = hit.dense_score
            else:
                stored = index.get_vector(hit.id)
                score = float(stored @ vector) if stored is not None else 0.0
            out.append((hit.id, float(score)))
        return out

    def dense_search(
        self,
        vector: np.ndarray,
        *,
        k: int = 10,
        predicate: Callable[[dict[str, Any]], bool] | None = None,
        exclude: Iterable[int] = (),
    ) -> list[tuple[int, float]]:
        """(key, cosine) pairs by vector alone (duplicates and major-incident grouping)."""
        self.flush()
        if self.index is None or not len(self.index):
            return []
        return self.index.search(vector, k, predicate, exclude=frozenset(exclude))

    def hydrate(
        self,
        db_session: Session,
        hits: Sequence[tuple[int, float]],
        predicate: Callable[[dict[str, Any]], bool] | None = None,
    ) -> list[dict[str, Any]]:
        """API items for hits, read from the database; hits whose row is gone or changed are dropped."""
        by_type: dict[str, list[int]] = {}
        for key, _ in hits:
            record_type, record_id = split_key(key)
            by_type.setdefault(record_type, []).append(record_id)
        rows: dict[int, Any] = {}
        for record_type, ids in by_type.items():
            model = MODELS[record_type]
            for obj in db_session.scalars(select(model).where(model.id.in_(ids))):
                rows[make_key(record_type, obj.id)] = obj
        resync: dict[int, Doc | None] = {}
        items = []
        for key, score in hits:
            record_type, _ = split_key(key)
            obj = rows.get(key)
            doc = doc_for(record_type, obj) if obj is not None else None
            stored = self.index.payload(key) if self.index is not None else None
            if doc is None or stored is None or stored.get("hash") != doc.payload["hash"]:
                resync[key] = doc
                continue
            if stored != doc.payload:
                resync[key] = doc
            if predicate is not None and not predicate(doc.payload):
                continue
            items.append(item_for(record_type, obj, score))
        if resync:
            self.enqueue(resync)
        return items

    def search(
        self,
        db_session: Session,
        text: str,
        *,
        k: int = 10,
        types: Sequence[str] | None = None,
        states: Sequence[str] | None = None,
        category: str | None = None,
        opened_after: datetime | None = None,
        opened_before: datetime | None = None,
        exclude: Iterable[int] = (),
        vector: np.ndarray | None = None,
        min_score: float | None = None,
        mode: str = "hybrid",
    ) -> list[dict[str, Any]]:
        """Items of the k best records for a text, best first, filtered as asked."""
        self.ensure_ready(db_session)
        self.catch_up(db_session)
        types = [t for t in (types or self.types) if t in self.types]
        if not types or k <= 0:
            return []
        predicate = make_filter(
            types=types, states=states, category=category, opened_after=opened_after,
            opened_before=opened_before,
        )
        # A few spare hits cover the ones dropped because the database changed under the index.
        hits = self.raw_search(
            text, k=k + 5, predicate=predicate, vector=vector, exclude=exclude, mode=mode
        )
        if min_score is not None:
            hits = [(key, s) for key, s in hits if s >= min_score]
        return self.hydrate(db_session, hits, predicate)[:k]
