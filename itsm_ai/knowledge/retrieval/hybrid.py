"""Hybrid retrieval: BM25 and dense results over the same ids, fused by rank (RRF) or by normalised score.

Score fusion (``zscore`` / ``minmax``) puts each side's scores on one scale over the candidate pool (the
union of both sides' top candidates, each scored exactly by both sides) and adds them with weights; on the
OpenOffice duplicate pairs it beats RRF because a large cosine or BM25 margin counts, not only the rank
(see benchmarks/bench_similar.py).

With ``collapse_duplicates`` a hit whose payload names a master (``duplicate_of``, a confirmed duplicate) is
replaced by that master, once (``duplicates.collapse``); the search goes deeper so that k records remain.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from itsm_ai.knowledge.retrieval.duplicates import collapse_indexed
from itsm_ai.knowledge.retrieval.lexical import LexicalIndex
from itsm_ai.knowledge.retrieval.vector_filters import Filter, compile_filter
from itsm_ai.knowledge.retrieval.vector_index import VectorIndex

MODES = ("dense", "lexical", "hybrid")
# Collapsing searches this many more hits than asked (then twice as deep again while records are missing).
COLLAPSE_SPARE = 10
COLLAPSE_TRIES = 3
FUSIONS = ("rrf", "zscore", "minmax")


@dataclass(frozen=True, slots=True)
class Hit:
    """One search result; ranks are 1-based and None when the id was not in that list."""

    id: int
    score: float
    dense_rank: int | None = None
    lexical_rank: int | None = None
    dense_score: float | None = None
    lexical_score: float | None = None
    via: tuple[int, ...] = ()


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


def normalise_scores(scores: Sequence[float] | np.ndarray, method: str = "zscore") -> np.ndarray:
    """Put one list's scores on a common scale: z-score (mean 0, sd 1) or min-max ([0, 1]); constant -> 0."""
    x = np.asarray(scores, dtype=np.float64)
    if method not in ("zscore", "minmax"):
        raise ValueError(f"method must be zscore or minmax, got {method!r}")
    if not len(x):
        return x
    if method == "zscore":
        spread = x.std()
        return (x - x.mean()) / spread if spread > 0 else np.zeros_like(x)
    low, high = x.min(), x.max()
    return (x - low) / (high - low) if high > low else np.zeros_like(x)


def score_fusion(
    dense: Mapping[int, float],
    lexical: Mapping[int, float],
    *,
    method: str = "zscore",
    weights: Sequence[float] = (1.0, 1.0),
) -> list[tuple[int, float]]:
    """Fuse two score maps: w_d * norm(dense) + w_l * norm(lexical) over the union of ids; best first.

    An id missing from one map gets that map's lowest score (pass exact scores for the whole pool when
    they are cheap to compute). Ties go to the higher dense score, then the smaller id.
    """
    if len(weights) != 2:
        raise ValueError(f"2 weights (dense, lexical) expected, got {len(weights)}")
    pool = sorted(set(dense) | set(lexical))
    if not pool:
        return []
    d_floor = min(dense.values(), default=0.0)
    l_floor = min(lexical.values(), default=0.0)
    d = np.array([dense.get(i, d_floor) for i in pool], dtype=np.float64)
    lx = np.array([lexical.get(i, l_floor) for i in pool], dtype=np.float64)
    fused = weights[0] * normalise_scores(d, method) + weights[1] * normalise_scores(lx, method)
    order = sorted(range(len(pool)), key=lambda j: (-fused[j], -d[j], pool[j]))
    return [(pool[j], float(fused[j])) for j in order]


class HybridSearcher:
    """Search one collection by text in dense, lexical or hybrid mode, with payload filters.

    Both indexes hold the same ids; filters are evaluated on the vector index's payloads (the lexical
    index holds text only). In hybrid mode each side contributes its top ``candidates`` to the fusion:
    ``fusion="rrf"`` (reciprocal rank fusion with ``rrf_k``) or ``"zscore"`` / ``"minmax"`` (weighted
    sum of normalised scores, see ``score_fusion``); ``dense_weight`` and ``lexical_weight`` weight both.
    ``collapse_duplicates`` lists the master of a confirmed duplicate instead of it (``Hit.via``: the
    duplicates it was reached through).
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
        fusion: str = "rrf",
        collapse_duplicates: bool = False,
    ):
        if fusion not in FUSIONS:
            raise ValueError(f"fusion must be one of {FUSIONS}, got {fusion!r}")
        self.fusion = fusion
        self.vector_index = vector_index
        self.lexical_index = lexical_index
        self.encoder = encoder
        self.rrf_k = rrf_k
        self.candidates = candidates
        self.dense_weight = dense_weight
        self.lexical_weight = lexical_weight
        self.collapse_duplicates = collapse_duplicates

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
        if vector is None and mode != "lexical":
            vector = self._encode(text)
        if not self.collapse_duplicates:
            return self._ranked(text, k, filters, mode, vector, exclude, limit=k)[0]
        depth = k + max(k, COLLAPSE_SPARE)
        for _ in range(COLLAPSE_TRIES):
            # Only `depth` hits are read (the fused pool is the same): most of a list is never needed.
            hits, more = self._ranked(text, depth, filters, mode, vector, exclude, limit=depth)
            found = self._collapse(hits, filters, exclude, k)
            if len(found) >= k or not more:
                break
            depth *= 2
        return found[:k]

    def _collapse(
        self, hits: list[Hit], filters: Filter | Mapping[str, Any] | None, exclude: frozenset[int], k: int
    ) -> list[Hit]:
        """Hits with confirmed duplicates replaced by their masters (see ``duplicates.collapse``)."""
        groups = collapse_indexed(
            [(h.id, h.score) for h in hits],
            self.vector_index.payload,
            compile_filter(filters),
            exclude=exclude,
            limit=k,
        )
        out = []
        for group in groups:
            members = [hits[p] for p in group.positions]
            own = next((h for h in members if h.id == group.key), None)
            dense = [h.dense_score for h in members if h.dense_score is not None]
            lexical = [h.lexical_score for h in members if h.lexical_score is not None]
            out.append(
                Hit(
                    group.key,
                    group.score,
                    own.dense_rank if own is not None else None,
                    own.lexical_rank if own is not None else None,
                    max(dense) if dense else None,
                    max(lexical) if lexical else None,
                    group.via,
                )
            )
        return out

    def _ranked(
        self,
        text: str | Mapping[str, str | None],
        k: int,
        filters: Filter | Mapping[str, Any] | None,
        mode: str,
        vector: Any,
        exclude: frozenset[int],
        limit: int | None = None,
    ) -> tuple[list[Hit], bool]:
        """The ranked hits of a search k deep (hybrid: the fused candidates), the first ``limit`` of them, and
        whether there are more (a side cut at its depth, hits past the limit: a deeper search finds more)."""
        depth = k if mode != "hybrid" else max(k, self.candidates)
        dense: list[tuple[int, float]] = []
        lexical: list[tuple[int, float]] = []
        if mode in ("dense", "hybrid"):
            dense = self.vector_index.search(vector, depth, filters, exclude=exclude)
        scored = None
        if mode in ("lexical", "hybrid"):
            # Scored once: score fusion looks up the same query's BM25 scores for dense-only candidates.
            scored = self.lexical_index.scores(text)
            lexical = self.lexical_index.search(
                text, depth, allow=self._lexical_allow(filters), exclude=exclude, scored=scored
            )
        more = len(dense) >= depth or len(lexical) >= depth
        if mode == "dense":
            return [Hit(i, s, dense_rank=r, dense_score=s) for r, (i, s) in enumerate(dense[:limit], 1)], more
        if mode == "lexical":
            hits = [Hit(i, s, lexical_rank=r, lexical_score=s) for r, (i, s) in enumerate(lexical[:limit], 1)]
            return hits, more
        d_rank = {i: r for r, (i, _) in enumerate(dense, 1)}
        l_rank = {i: r for r, (i, _) in enumerate(lexical, 1)}
        d_score = dict(dense)
        l_score = dict(lexical)
        if self.fusion == "rrf":
            fused = reciprocal_rank_fusion(
                [[i for i, _ in dense], [i for i, _ in lexical]],
                k=self.rrf_k,
                weights=[self.dense_weight, self.lexical_weight],
            )
        else:
            self._complete_scores(text, vector, d_score, l_score, scored)
            fused = score_fusion(
                d_score, l_score, method=self.fusion, weights=(self.dense_weight, self.lexical_weight)
            )
        hits = [
            Hit(i, s, d_rank.get(i), l_rank.get(i), d_score.get(i), l_score.get(i)) for i, s in fused[:limit]
        ]
        return hits, more or len(hits) < len(fused)

    def _complete_scores(
        self,
        text: str | Mapping[str, str | None],
        query: Any,
        dense: dict[int, float],
        lexical: dict[int, float],
        scored: tuple[np.ndarray, np.ndarray] | None,
    ) -> None:
        # A candidate found by one side only is scored exactly by the other: filling in "the list's
        # minimum" instead would rank a strong BM25-only match as the dense side's worst candidate.
        only_lexical = [i for i in lexical if i not in dense]
        if only_lexical:
            q = np.asarray(query, dtype=np.float32).ravel()
            norm = float(np.linalg.norm(q))
            # Cosine, like the index's own scores (it scales queries to unit length too).
            q = q / norm if norm > 0 else q
            for item_id in only_lexical:
                stored = self.vector_index.get_vector(item_id)
                if stored is not None:
                    dense[item_id] = float(np.asarray(stored, dtype=np.float32) @ q)
        only_dense = [i for i in dense if i not in lexical]
        if only_dense:
            scores = self.lexical_index.score_ids(text, only_dense, scored=scored)
            lexical.update(zip(only_dense, scores.tolist(), strict=True))
