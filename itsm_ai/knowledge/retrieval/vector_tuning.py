"""Approximate-search tuning: pick the smallest HNSW efSearch that reaches a recall target on a sample.

The recall is measured against an exact scan of the live vectors, with held-out queries when given,
else a leave-one-out sample of stored vectors (each query's own item is dropped from both result lists).
The chosen value and the evidence behind it are returned so that the index can record them.

faiss is imported lazily inside the functions.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import numpy as np

EF_CANDIDATES = (16, 32, 64, 128, 256, 512, 1024, 2048, 4096)


def recall_at_k(found: np.ndarray, truth: np.ndarray, k: int) -> float:
    """Mean share of each row's exact top-k found in the approximate top-k (ids < 0 never match)."""
    hits = [
        len({int(i) for i in f[:k] if i >= 0} & {int(t) for t in r[:k]})
        for f, r in zip(found, truth, strict=True)
    ]
    return float(np.mean(hits) / k) if len(hits) else 0.0


def _drop_self(result: np.ndarray, own: np.ndarray | None, k: int) -> np.ndarray:
    if own is None:
        return result[:, :k]
    out = np.full((len(result), k), -1, dtype=np.int64)
    for row, (ids, me) in enumerate(zip(result, own, strict=True)):
        kept = ids[ids != me][:k]
        out[row, : len(kept)] = kept
    return out


def tune_ef_search(
    faiss_index: Any,
    alive: np.ndarray,
    *,
    queries: np.ndarray | None = None,
    target_recall: float = 0.95,
    k: int = 10,
    sample: int = 200,
    candidates: tuple[int, ...] = EF_CANDIDATES,
    random_state: int = 0,
) -> dict[str, Any]:
    """Smallest efSearch in ``candidates`` whose recall@k on the sample reaches ``target_recall``.

    ``alive`` are the faiss positions of live vectors. Falls back to the largest candidate (and says
    so with ``reached: False``) when none reaches the target.
    """
    import faiss

    if not 0 < target_recall <= 1:
        raise ValueError("target_recall must be in (0, 1]")
    if not hasattr(faiss_index, "hnsw"):
        raise ValueError("efSearch tuning needs an HNSW index")
    alive = np.asarray(alive, dtype=np.int64)
    if len(alive) <= k:
        raise ValueError(f"need more than k={k} live vectors to tune")
    rng = np.random.default_rng(random_state)
    own = None
    if queries is None:
        own = rng.choice(alive, size=min(sample, len(alive)), replace=False)
        queries = faiss_index.reconstruct_batch(own)
    queries = np.ascontiguousarray(queries, dtype=np.float32)
    extra = 0 if own is None else 1
    # Exact neighbours over the live vectors only, in blocks so that a large index is not copied at once.
    best_s = np.full((len(queries), k + extra), -np.inf, dtype=np.float32)
    best_i = np.full((len(queries), k + extra), -1, dtype=np.int64)
    for lo in range(0, len(alive), 200_000):
        block = alive[lo : lo + 200_000]
        vectors = faiss_index.reconstruct_batch(block)
        scores, idx = faiss.knn(queries, vectors, k + extra, faiss.METRIC_INNER_PRODUCT)
        idx = np.where(idx >= 0, block[np.clip(idx, 0, None)], -1)
        all_s, all_i = np.hstack([best_s, scores]), np.hstack([best_i, idx])
        order = np.argsort(-all_s, axis=1, kind="stable")[:, : k + extra]
        best_s, best_i = np.take_along_axis(all_s, order, 1), np.take_along_axis(all_i, order, 1)
    truth = _drop_self(best_i, own, k)
    dead = len(alive) < faiss_index.ntotal
    curve = []
    for ef in sorted(candidates):
        params = faiss.SearchParametersHNSW()
        params.efSearch = int(ef)
        # Over-fetch when tombstones are stored, as the search path does.
        fetch = 2 * (k + extra) if dead else k + extra
        _, found = faiss_index.search(queries, fetch, params=params)
        if dead:
            alive_set = np.zeros(faiss_index.ntotal, dtype=bool)
            alive_set[alive] = True
            found = np.where((found >= 0) & alive_set[np.clip(found, 0, None)], found, -1)
            found = np.array([np.concatenate([r[r >= 0], r[r < 0]]) for r in found])
        rec = recall_at_k(_drop_self(found, own, k), truth, k)
        curve.append({"ef_search": int(ef), "recall": rec})
        if rec >= target_recall:
            break
    chosen = curve[-1]
    return {
        "ef_search": chosen["ef_search"],
        "recall": chosen["recall"],
        "reached": chosen["recall"] >= target_recall,
        "target_recall": target_recall,
        "k": k,
        "queries": len(queries),
        "query_source": "leave-one-out stored vectors" if own is not None else "given",
        "live": int(len(alive)),
        "curve": curve,
        "tuned_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
