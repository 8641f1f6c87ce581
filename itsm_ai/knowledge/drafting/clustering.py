"""Clusters of resolved tickets, knowledge gaps and stale articles, from embeddings (pure functions).

Vectors are expected L2-normalised (as ``itsm_ai.embeddings`` returns them); they are renormalised
defensively. Agglomerative clustering keeps a full distance matrix, so it is meant for the recent
resolved tickets of a service desk (up to ``max_items``, 20,000 by default: ~1.6 GB of distances).
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class Cluster:
    """A group of similar tickets: member ids, normalised centroid and mean member-centroid cosine."""

    label: int
    ticket_ids: list[Hashable]
    centroid: np.ndarray = field(repr=False)
    cohesion: float

    @property
    def size(self) -> int:
        """Number of tickets in the cluster."""
        return len(self.ticket_ids)


@dataclass(frozen=True)
class KnowledgeGap:
    """A cluster of tickets that no published article covers."""

    cluster: Cluster
    max_article_similarity: float
    nearest_article: Hashable | None
    member_coverage: float  # share of member tickets with some article above the threshold

    @property
    def ticket_ids(self) -> list[Hashable]:
        """Ids of the tickets in the uncovered cluster."""
        return self.cluster.ticket_ids

    @property
    def size(self) -> int:
        """Number of tickets in the uncovered cluster."""
        return self.cluster.size


@dataclass(frozen=True)
class StaleArticle:
    """An article whose linked tickets were recently resolved differently from what it says."""

    article_id: Hashable
    median_similarity: float
    recent_count: int
    recent_agreement: float  # mean pairwise cosine of the recent resolutions
    representative_index: int  # the most central recent resolution (index into the given array)


def _normalise(vectors: np.ndarray | Sequence[Sequence[float]], name: str) -> np.ndarray:
    arr = np.asarray(vectors, dtype=np.float32)
    if arr.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array, got shape {arr.shape}")
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    norms = np.linalg.norm(arr, axis=1, keepdims=True)
    return arr / np.where(norms > 0, norms, 1.0)


def cluster_labels(
    vectors: np.ndarray,
    *,
    distance_threshold: float = 0.35,
    min_cluster_size: int = 3,
    linkage: str = "average",
    max_items: int = 20_000,
) -> np.ndarray:
    """Agglomerative clustering by cosine distance; clusters smaller than min_cluster_size get -1."""
    x = _normalise(vectors, "vectors")
    n = len(x)
    if n > max_items:
        raise ValueError(f"{n} vectors exceed max_items={max_items}: cluster a recent window or a sample")
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    if n == 1:
        raw = np.zeros(1, dtype=np.int64)
    else:
        from sklearn.cluster import AgglomerativeClustering

        model = AgglomerativeClustering(
            n_clusters=None, metric="cosine", linkage=linkage, distance_threshold=distance_threshold
        )
        raw = model.fit_predict(x).astype(np.int64)
    labels = np.full(n, -1, dtype=np.int64)
    # Relabel big clusters 0..m-1, largest first, so labels are stable for the same input.
    sizes = np.bincount(raw)
    big = [c for c in np.argsort(-sizes, kind="stable") if sizes[c] >= min_cluster_size]
    for new, old in enumerate(big):
        labels[raw == old] = new
    return labels


def summarize_clusters(
    vectors: np.ndarray, labels: np.ndarray, ticket_ids: Sequence[Hashable] | None = None
) -> list[Cluster]:
    """Build Cluster records (ids, centroid, cohesion) for every label except -1, largest first."""
    x = _normalise(vectors, "vectors")
    labels = np.asarray(labels)
    if len(labels) != len(x):
        raise ValueError(f"{len(labels)} labels for {len(x)} vectors")
    ids = list(range(len(x))) if ticket_ids is None else list(ticket_ids)
    if len(ids) != len(x):
        raise ValueError(f"{len(ids)} ticket_ids for {len(x)} vectors")
    clusters = []
    for label in sorted({int(v) for v in labels if v >= 0}):
        members = np.flatnonzero(labels == label)
        centroid = x[members].mean(axis=0)
        centroid /= max(float(np.linalg.norm(centroid)), 1e-12)
        cohesion = float((x[members] @ centroid).mean())
        clusters.append(Cluster(label, [ids[i] for i in members], centroid, round(cohesion, 4)))
    clusters.sort(key=lambda c: (-c.size, c.label))
    return clusters


def cluster_tickets(
    vectors: np.ndarray,
    ticket_ids: Sequence[Hashable] | None = None,
    *,
    distance_threshold: float = 0.35,
    min_cluster_size: int = 3,
    linkage: str = "average",
) -> list[Cluster]:
    """Cluster resolved tickets by embedding; returns clusters of at least min_cluster_size, largest first."""
    labels = cluster_labels(
        vectors, distance_threshold=distance_threshold, min_cluster_size=min_cluster_size, linkage=linkage
    )
    return summarize_clusters(vectors, labels, ticket_ids)


def find_knowledge_gaps(
    ticket_vectors: np.ndarray,
    ticket_ids: Sequence[Hashable],
    article_vectors: np.ndarray,
    article_ids: Sequence[Hashable] | None = None,
    *,
    coverage_threshold: float = 0.6,
    distance_threshold: float = 0.35,
    min_cluster_size: int = 3,
    clusters: Sequence[Cluster] | None = None,
) -> list[KnowledgeGap]:
    """Clusters whose centroid's best cosine to any published article is below coverage_threshold."""
    tv = _normalise(ticket_vectors, "ticket_vectors")
    if clusters is None:
        clusters = cluster_tickets(
            tv, ticket_ids, distance_threshold=distance_threshold, min_cluster_size=min_cluster_size
        )
    av = np.asarray(article_vectors, dtype=np.float32)
    av = _normalise(av.reshape(-1, tv.shape[1]) if av.size else np.zeros((0, tv.shape[1])), "article_vectors")
    a_ids = list(range(len(av))) if article_ids is None else list(article_ids)
    if len(a_ids) != len(av):
        raise ValueError(f"{len(a_ids)} article_ids for {len(av)} article vectors")
    position = {tid: i for i, tid in enumerate(ticket_ids)}
    gaps = []
    for cluster in clusters:
        if len(av):
            sims = av @ cluster.centroid
            best = int(np.argmax(sims))
            best_sim, nearest = float(sims[best]), a_ids[best]
            rows = [position[t] for t in cluster.ticket_ids if t in position]
            member_best = (tv[rows] @ av.T).max(axis=1) if rows else np.zeros(0)
            member_cov = float((member_best >= coverage_threshold).mean()) if rows else 0.0
        else:
            best_sim, nearest, member_cov = 0.0, None, 0.0
        if best_sim < coverage_threshold:
            gaps.append(KnowledgeGap(cluster, round(best_sim, 4), nearest, round(member_cov, 4)))
    gaps.sort(key=lambda g: (-g.size, g.max_article_similarity))
    return gaps


def stale_articles(
    article_vectors: Mapping[Hashable, np.ndarray],
    recent_resolution_vectors: Mapping[Hashable, np.ndarray],
    *,
    threshold: float = 0.5,
    min_recent: int = 3,
    require_agreement: bool = True,
) -> list[StaleArticle]:
    """Articles whose recent linked resolutions have median cosine below threshold to the article text.

    With require_agreement, the recent resolutions must also agree with each other (mean pairwise cosine
    at least threshold): a new common fix, not just scattered notes. Most drifted first.
    """
    out = []
    for article_id, avec in article_vectors.items():
        recent = recent_resolution_vectors.get(article_id)
        if recent is None or len(recent) < min_recent:
            continue
        a = _normalise(np.asarray(avec).reshape(1, -1), f"article_vectors[{article_id!r}]")[0]
        r = _normalise(recent, f"recent_resolution_vectors[{article_id!r}]")
        if r.shape[1] != a.shape[0]:
            raise ValueError(f"dimension mismatch for article {article_id!r}: {r.shape[1]} vs {a.shape[0]}")
        median = float(np.median(r @ a))
        pair = r @ r.T
        m = len(r)
        agreement = float((pair.sum() - np.trace(pair)) / (m * (m - 1)))
        if median >= threshold or (require_agreement and agreement < threshold):
            continue
        representative = int(np.argmax(pair.sum(axis=1)))
        out.append(StaleArticle(article_id, round(median, 4), m, round(agreement, 4), representative))
    out.sort(key=lambda s: s.median_similarity)
    return out
