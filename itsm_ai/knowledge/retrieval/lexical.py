"""BM25 keyword index (bm25s) over int64 record ids, with incremental updates.

bm25s builds a static sparse matrix, so updates go into a corpus dict (id -> tokens) and mark the
index dirty; the next search rebuilds it. A rebuild re-tokenises nothing (tokens are kept) and costs
about 0.1 s per 10,000 short tickets on one core, so a burst of updates costs one rebuild; for
collections beyond some hundred thousand documents batch the updates or move to a search engine.

Documents are tokenised by `itsm_ai.knowledge.tokens` (stop words, light stemming).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from itsm_ai.knowledge.tokens import STOPWORDS, tokenize


class LexicalIndex:
    """BM25 over the same ids as the vector index; add/update/remove are cheap, search rebuilds lazily."""

    def __init__(
        self,
        *,
        k1: float = 1.2,
        b: float = 0.75,
        method: str = "lucene",
        stem: bool = True,
        stopwords: Collection[str] | None = None,
        field_weights: Mapping[str, int] | None = None,
        background_above: int | None = None,
    ):
        self.k1 = k1
        self.b = b
        self.method = method
        self.stem = stem
        self.stopwords = STOPWORDS if stopwords is None else frozenset(stopwords)
        self.field_weights = dict(field_weights or {})
        # Above this many documents a search after an update uses the previous matrix while a thread
        # rebuilds it (a rebuild costs ~1 s per 100,000 tickets); None: always rebuild before searching.
        self.background_above = background_above
        self._generation = 0
        self._rebuilding: threading.Thread | None = None
        self._docs: dict[int, list[str]] = {}
        self._lock = threading.Lock()
        self._dirty = False
        self._retriever: Any = None
        self._order = np.empty(0, dtype=np.int64)
        self._positions: tuple[np.ndarray, dict[int, int]] | None = None
        self.rebuilds = 0

    def tokenize(self, text: str | None) -> list[str]:
        """Tokenize with this index's stop words and stemming."""
        return tokenize(text, stopwords=self.stopwords, stem=self.stem)

    def _doc_tokens(self, text: str | Mapping[str, str | None] | None) -> list[str]:
        if isinstance(text, Mapping):
            # Field boosts by repetition: a title with weight 2 counts its terms twice.
            tokens: list[str] = []
            for field, value in text.items():
                tokens.extend(self.tokenize(value) * max(1, int(self.field_weights.get(field, 1))))
            return tokens
        return self.tokenize(text)

    def __len__(self) -> int:
        return len(self._docs)

    def __contains__(self, item_id: object) -> bool:
        return item_id in self._docs

    def add(self, item_id: int, text: str | Mapping[str, str | None] | None) -> None:
        """Add or replace one document (a string, or a dict of fields weighted by ``field_weights``)."""
        self.add_many([item_id], [text])

    update = add

    def add_many(self, ids: Iterable[int], texts: Iterable[str | Mapping[str, str | None] | None]) -> None:
        """Add or replace many documents."""
        pairs = [(int(i), self._doc_tokens(t)) for i, t in zip(ids, texts, strict=True)]
        with self._lock:
            for item_id, tokens in pairs:
                self._docs[item_id] = tokens
            if pairs:
                self._dirty = True
                self._generation += 1

    def remove(self, item_id: int) -> bool:
        """Remove one document; returns False when it was absent."""
        with self._lock:
            found = self._docs.pop(int(item_id), None) is not None
            self._dirty |= found
            self._generation += found
            return found

    def remove_many(self, ids: Iterable[int]) -> int:
        """Remove documents; returns how many were present."""
        return sum(self.remove(i) for i in ids)

    def rebuild(self) -> None:
        """Rebuild the BM25 matrix now (otherwise the next search does it)."""
        with self._lock:
            self._rebuild_locked()

    def _rebuild_locked(self) -> None:
        import bm25s

        order = np.fromiter(self._docs.keys(), dtype=np.int64, count=len(self._docs))
        corpus = list(self._docs.values())
        retriever = None
        if any(corpus):
            retriever = bm25s.BM25(k1=self.k1, b=self.b, method=self.method)
            retriever.index(corpus, show_progress=False)
        self._retriever, self._order = retriever, order
        self._dirty = False
        self.rebuilds += 1

    def _background_rebuild(self) -> None:
        import bm25s

        try:
            with self._lock:
                generation = self._generation
                order = np.fromiter(self._docs.keys(), dtype=np.int64, count=len(self._docs))
                corpus = list(self._docs.values())
            retriever = None
            if any(corpus):
                retriever = bm25s.BM25(k1=self.k1, b=self.b, method=self.method)
                retriever.index(corpus, show_progress=False)
            with self._lock:
                self._retriever, self._order = retriever, order
                self._dirty = self._generation != generation
                self.rebuilds += 1
        finally:
            self._rebuilding = None

    def wait_for_rebuild(self, timeout: float | None = None) -> None:
        """Wait for a background rebuild in progress (tests, shutdown)."""
        thread = self._rebuilding
        if thread is not None:
            thread.join(timeout)

    def _snapshot(self) -> tuple[Any, np.ndarray]:
        with self._lock:
            if self._dirty:
                big = self.background_above is not None and len(self._docs) > self.background_above
                if big and self._retriever is not None:
                    if self._rebuilding is None:
                        self._rebuilding = threading.Thread(
                            target=self._background_rebuild, name="bm25-rebuild", daemon=True
                        )
                        self._rebuilding.start()
                else:
                    self._rebuild_locked()
            return self._retriever, self._order

    def scores(self, text: str | Mapping[str, str | None]) -> tuple[np.ndarray, np.ndarray]:
        """BM25 score of every document for a query (a string or weighted fields): (ids, scores)."""
        retriever, order = self._snapshot()
        if retriever is None:
            return order, np.zeros(len(order), dtype=np.float32)
        token_ids = retriever.get_tokens_ids(self._doc_tokens(text))
        if not token_ids:
            return order, np.zeros(len(order), dtype=np.float32)
        return order, retriever.get_scores_from_ids(token_ids)

    def score_ids(
        self,
        text: str | Mapping[str, str | None],
        ids: Sequence[int],
        *,
        scored: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> np.ndarray:
        """BM25 scores of a query for the given ids (0 for ids not in the index), in the given order.

        ``scored`` is this query's ``scores(text)`` when the caller already has it (no second scoring pass).
        """
        order, scores = self.scores(text) if scored is None else scored
        out = np.zeros(len(ids), dtype=np.float32)
        if not len(ids) or not len(order):
            return out
        positions = self._positions
        # The id -> position map follows the matrix snapshot, so it is built once per rebuild.
        if positions is None or positions[0] is not order:
            positions = (order, {int(item_id): pos for pos, item_id in enumerate(order.tolist())})
            self._positions = positions
        lookup = positions[1]
        for row, item_id in enumerate(ids):
            pos = lookup.get(int(item_id))
            if pos is not None:
                out[row] = scores[pos]
        return out

    def search(
        self,
        text: str | Mapping[str, str | None],
        k: int = 10,
        *,
        allow: Callable[[int], bool] | None = None,
        exclude: Collection[int] = (),
        scored: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> list[tuple[int, float]]:
        """Return up to k (id, BM25 score) pairs with a positive score, best first (scored: see score_ids)."""
        if k <= 0:
            return []
        order, scores = self.scores(text) if scored is None else scored
        candidates = np.flatnonzero(scores > 0)
        if not len(candidates):
            return []
        if allow is None:
            m = min(len(candidates), k + len(exclude))
            part = candidates[np.argpartition(-scores[candidates], m - 1)[:m]]
            ranked = part[np.argsort(-scores[part], kind="stable")]
        else:
            ranked = candidates[np.argsort(-scores[candidates], kind="stable")]
        hits: list[tuple[int, float]] = []
        for pos in ranked.tolist():
            item_id = int(order[pos])
            if item_id in exclude or (allow is not None and not allow(item_id)):
                continue
            hits.append((item_id, float(scores[pos])))
            if len(hits) == k:
                break
        return hits

    def search_many(
        self,
        texts: Sequence[str | Mapping[str, str | None]],
        k: int = 10,
        *,
        exclude: Sequence[Collection[int]] | None = None,
    ) -> list[list[tuple[int, float]]]:
        """Run ``search`` for each text (exclude: one id collection per query)."""
        return [
            self.search(text, k, exclude=exclude[i] if exclude is not None else ())
            for i, text in enumerate(texts)
        ]
