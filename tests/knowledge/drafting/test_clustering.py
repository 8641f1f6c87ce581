"""Ticket clusters, knowledge gaps and stale articles on synthetic and real vectors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from itsm_ai.knowledge.drafting.clustering import (
    cluster_labels,
    cluster_tickets,
    find_knowledge_gaps,
    stale_articles,
)


def blobs(rng, centers, per, spread=0.15):
    d = centers.shape[1]
    x = np.concatenate([c + spread * rng.normal(size=(per, d)) / np.sqrt(d) for c in centers])
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def test_clusters_found_and_small_ones_dropped(rng, unit_vectors):
    centers = unit_vectors(3, 48)
    x = np.concatenate([blobs(rng, centers, 10), unit_vectors(2, 48)])  # 2 stray tickets
    labels = cluster_labels(x, distance_threshold=0.3, min_cluster_size=3)
    assert sorted(np.bincount(labels[labels >= 0]).tolist()) == [10, 10, 10]
    assert (labels[-2:] == -1).all()
    clusters = cluster_tickets(x, [f"INC{i}" for i in range(len(x))], distance_threshold=0.3)
    assert [c.size for c in clusters] == [10, 10, 10] and all(c.cohesion > 0.9 for c in clusters)
    assert cluster_labels(x[:1]).tolist() == [-1] and len(cluster_labels(np.zeros((0, 4)))) == 0
    with pytest.raises(ValueError, match="max_items"):
        cluster_labels(x, max_items=10)


def test_knowledge_gaps_are_uncovered_clusters(rng, unit_vectors):
    centers = unit_vectors(3, 48)
    x = blobs(rng, centers, 8)
    ids = list(range(100, 124))
    articles = blobs(rng, centers[:2], 1, spread=0.05)  # articles cover the first two topics only
    gaps = find_knowledge_gaps(x, ids, articles, ["KB1", "KB2"], distance_threshold=0.3)
    assert len(gaps) == 1
    gap = gaps[0]
    assert gap.ticket_ids == ids[16:] and gap.size == 8
    assert gap.max_article_similarity < 0.6 and gap.member_coverage == 0.0
    assert gap.nearest_article in ("KB1", "KB2")
    # No articles at all: every cluster is a gap.
    assert len(find_knowledge_gaps(x, ids, np.zeros((0, 48)), distance_threshold=0.3)) == 3


def test_stale_articles(rng, unit_vectors):
    old_fix, new_fix, other = unit_vectors(3, 48)
    articles = {"KB1": old_fix, "KB2": old_fix, "KB3": other}
    recent = {
        "KB1": blobs(rng, new_fix[None], 5),  # resolved the new way: stale
        "KB2": blobs(rng, old_fix[None], 5),  # still resolved as documented
        "KB3": blobs(rng, new_fix[None], 2),  # too few recent tickets to judge
    }
    stale = stale_articles(articles, recent, threshold=0.5, min_recent=3)
    assert [s.article_id for s in stale] == ["KB1"]
    assert stale[0].median_similarity < 0.5 and stale[0].recent_agreement > 0.9 and stale[0].recent_count == 5
    # Scattered notes (no agreement among them) do not count as a new way of resolving.
    scattered = {"KB1": unit_vectors(5, 48)}
    assert stale_articles({"KB1": old_fix}, scattered) == []
    assert [s.article_id for s in stale_articles({"KB1": old_fix}, scattered, require_agreement=False)] == [
        "KB1"
    ]


@pytest.mark.slow
def test_real_tickets_cluster_by_topic(shared_data, encoder):
    frame = pd.read_csv(shared_data / "it_tickets_topics.csv").dropna(subset=["Topic_group"])
    frame = frame[frame["Topic_group"].isin(["Purchase", "Access"])].groupby("Topic_group").head(20)
    vectors = encoder.encode(frame["Document"].tolist())
    clusters = cluster_tickets(vectors, frame.index.tolist(), distance_threshold=0.5, min_cluster_size=3)
    assert clusters
    topics = frame["Topic_group"].to_dict()
    purity = [
        max(pd.Series([topics[i] for i in c.ticket_ids]).value_counts(normalize=True)) for c in clusters
    ]
    assert np.average(purity, weights=[c.size for c in clusters]) >= 0.7
