"""Rank and score fusion maths and the hybrid searcher (hashing encoder; the real model in a slow test)."""

from __future__ import annotations

import numpy as np
import pytest

from itsm_ai.knowledge.retrieval.hybrid import (
    Hit,
    HybridSearcher,
    normalise_scores,
    reciprocal_rank_fusion,
    score_fusion,
)
from itsm_ai.knowledge.retrieval.lexical import LexicalIndex
from itsm_ai.knowledge.retrieval.vector_index import VectorIndex

TICKETS = {
    101: ("Outlook keeps asking for password", {"type": "incident", "category": "email"}),
    102: ("Cannot connect to VPN from home", {"type": "incident", "category": "network"}),
    103: ("Printer jams on tray 2", {"type": "incident", "category": "hardware"}),
    104: ("Mailbox full, cannot send email", {"type": "problem", "category": "email"}),
    105: ("VPN disconnects every ten minutes", {"type": "problem", "category": "network"}),
    106: ("Request new laptop for new hire", {"type": "request", "category": "hardware"}),
}


def test_rrf_exact_values():
    fused = dict(reciprocal_rank_fusion([[1, 2, 3], [3, 1]], k=60))
    assert fused[1] == pytest.approx(1 / 61 + 1 / 62)
    assert fused[3] == pytest.approx(1 / 63 + 1 / 61)
    assert fused[2] == pytest.approx(1 / 62)
    assert [i for i, _ in reciprocal_rank_fusion([[1, 2, 3], [3, 1]], k=60)] == [1, 3, 2]


def test_rrf_weights_ties_and_validation():
    # Same fused score for 1 and 2: the one with the better single rank (then the smaller id) wins.
    assert [i for i, _ in reciprocal_rank_fusion([[1, 2], [2, 1]], k=0)] == [1, 2]
    weighted = reciprocal_rank_fusion([[1, 2], [2, 1]], k=60, weights=[1.0, 2.0])
    assert weighted[0][0] == 2
    assert reciprocal_rank_fusion([], k=60) == []
    with pytest.raises(ValueError, match="weights"):
        reciprocal_rank_fusion([[1]], weights=[1.0, 2.0])


def test_normalise_scores_exact_values():
    assert normalise_scores([1.0, 2.0, 3.0], "minmax") == pytest.approx([0.0, 0.5, 1.0])
    sd = np.std([1.0, 2.0, 3.0])
    assert normalise_scores([1.0, 2.0, 3.0], "zscore") == pytest.approx([-1 / sd, 0.0, 1 / sd])
    assert normalise_scores([4.0, 4.0], "zscore").tolist() == [0.0, 0.0]
    assert normalise_scores([4.0, 4.0], "minmax").tolist() == [0.0, 0.0]
    assert len(normalise_scores([], "zscore")) == 0
    with pytest.raises(ValueError, match="method"):
        normalise_scores([1.0], "rank")


# Dense is sure of 1 (a large cosine margin); BM25 puts 2 first by a hair, 1 third by another hair.
DENSE = {1: 0.9, 2: 0.3, 3: 0.2, 4: 0.1}
LEXICAL = {2: 5.0, 3: 4.95, 1: 4.9, 4: 0.5}


def test_score_fusion_uses_margins_where_rrf_sees_only_ranks():
    by_rank = reciprocal_rank_fusion([sorted(DENSE, key=lambda i: -DENSE[i]), list(LEXICAL)], k=60)
    assert by_rank[0][0] == 2
    for method in ("zscore", "minmax"):
        assert [i for i, _ in score_fusion(DENSE, LEXICAL, method=method)][:2] == [1, 2]
    fused = dict(score_fusion(DENSE, LEXICAL, method="minmax"))
    assert fused[1] == pytest.approx(1.0 + 4.4 / 4.5)
    assert fused[2] == pytest.approx(0.25 + 1.0)
    lexical_only = score_fusion(DENSE, LEXICAL, method="zscore", weights=(0.0, 1.0))
    assert [i for i, _ in lexical_only] == [2, 3, 1, 4]


def test_score_fusion_missing_ids_ties_and_validation():
    # Id 2 has no lexical score: it gets the lexical minimum (2.0), like the worst lexical candidate.
    fused = score_fusion({1: 1.0, 2: 0.0, 3: 0.5}, {1: 2.0, 3: 4.0}, method="minmax")
    assert [i for i, _ in fused] == [3, 1, 2]
    assert [s for _, s in fused] == pytest.approx([1.5, 1.0, 0.0])
    # Equal fused scores: the higher dense score first.
    tied = score_fusion({1: 0.0, 2: 1.0}, {1: 1.0, 2: 0.0}, method="minmax")
    assert [i for i, _ in tied] == [2, 1]
    assert score_fusion({}, {}) == []
    with pytest.raises(ValueError, match="weights"):
        score_fusion(DENSE, LEXICAL, weights=(1.0,))


def make_searcher(encoder, **kwargs) -> HybridSearcher:
    vectors = VectorIndex.for_encoder(encoder)
    lexical = LexicalIndex()
    ids = list(TICKETS)
    texts = [TICKETS[i][0] for i in ids]
    vectors.add_many(ids, encoder.encode(texts), [TICKETS[i][1] for i in ids])
    lexical.add_many(ids, texts)
    return HybridSearcher(vectors, lexical, encoder, **kwargs)


def test_modes_and_ranks(hash_encoder):
    searcher = make_searcher(hash_encoder)
    lexical = searcher.search("vpn disconnects", 3, mode="lexical")
    assert lexical[0] == Hit(105, lexical[0].score, None, 1, None, lexical[0].score)
    dense = searcher.search("vpn disconnects", 3, mode="dense")
    assert dense[0].id == 105 and dense[0].dense_rank == 1 and dense[0].lexical_rank is None
    hybrid = searcher.search("vpn disconnects", 3)
    assert hybrid[0].id == 105 and hybrid[0].dense_rank == 1 and hybrid[0].lexical_rank == 1
    assert hybrid[0].score == pytest.approx(2 / 61)
    assert {h.id for h in hybrid[:2]} == {102, 105}
    with pytest.raises(ValueError, match="mode"):
        searcher.search("vpn", 3, mode="semantic")


def test_filters_apply_to_both_sides(hash_encoder):
    searcher = make_searcher(hash_encoder)
    for mode in ("dense", "lexical", "hybrid"):
        hits = searcher.search("vpn email", 5, filters={"category": "email"}, mode=mode)
        assert hits and {h.id for h in hits} <= {101, 104}
    assert searcher.search("vpn", 5, filters={"type": "change"}) == []


def test_exclude_and_precomputed_vector(hash_encoder):
    searcher = make_searcher(hash_encoder)
    vec = hash_encoder.encode(["printer jams"])[0]
    hits = searcher.search("printer jams", 3, vector=vec, exclude={103})
    assert 103 not in {h.id for h in hits}
    no_encoder = HybridSearcher(searcher.vector_index, searcher.lexical_index)
    assert no_encoder.search("printer", 2, mode="lexical")[0].id == 103
    with pytest.raises(ValueError, match="encoder"):
        no_encoder.search("printer", 2)


def test_score_fusion_searcher_scores_every_candidate_on_both_sides(hash_encoder):
    searcher = make_searcher(hash_encoder, fusion="zscore", candidates=1, lexical_weight=0.5)
    query = "vpn disconnects email"
    vec = hash_encoder.encode([query])[0]
    hits = searcher.search(query, 2, vector=vec)
    # Each side lists its 2 best; a hit one side did not list has no rank there.
    assert len(hits) == 2 and any(h.dense_rank is None or h.lexical_rank is None for h in hits)
    lexical = dict(searcher.lexical_index.search(query, 10))
    for hit in hits:
        # Ranks say where a side found the hit; scores are exact even when the side did not list it.
        cosine = float(searcher.vector_index.get_vector(hit.id) @ vec)
        assert hit.dense_score == pytest.approx(cosine, abs=1e-5)
        assert hit.lexical_score == pytest.approx(lexical.get(hit.id, 0.0))
    assert hits[0].score > hits[1].score
    filtered = searcher.search("vpn email", 5, filters={"category": "email"})
    assert filtered and {h.id for h in filtered} <= {101, 104}
    with pytest.raises(ValueError, match="fusion"):
        make_searcher(hash_encoder, fusion="borda")


def test_score_fusion_scores_the_query_once_for_bm25(hash_encoder, monkeypatch):
    searcher = make_searcher(hash_encoder, fusion="zscore", candidates=1)
    calls = []
    real = searcher.lexical_index.scores
    monkeypatch.setattr(searcher.lexical_index, "scores", lambda text: calls.append(text) or real(text))
    hits = searcher.search("vpn disconnects email", 2)
    # The dense-only candidate needed a BM25 score too; it came from the same scoring pass.
    assert any(h.lexical_rank is None for h in hits)
    assert calls == ["vpn disconnects email"]


@pytest.mark.slow
def test_hybrid_with_real_encoder(encoder):
    searcher = make_searcher(encoder)
    # "Mail" and "inbox" share no token with ticket 104's words other than the meaning.
    dense = searcher.search("my inbox is over its storage quota", 2, mode="dense")
    assert dense[0].id == 104
    hybrid = searcher.search("laptop for a new employee", 2)
    assert hybrid[0].id == 106


def _with_links(searcher: HybridSearcher, links: dict[int, int]) -> HybridSearcher:
    for dup, master in links.items():
        payload = searcher.vector_index.payload(dup)
        searcher.vector_index.update_payload(dup, {**payload, "duplicate_of": master})
    return searcher


@pytest.mark.parametrize("mode", ["dense", "lexical", "hybrid"])
def test_collapse_lists_the_master_of_a_confirmed_duplicate_with_the_evidence(hash_encoder, mode):
    plain = _with_links(make_searcher(hash_encoder), {105: 102})
    assert plain.search("vpn disconnects", 3, mode=mode)[0].id == 105  # off by default in the class
    searcher = _with_links(make_searcher(hash_encoder, collapse_duplicates=True), {105: 102})
    hits = searcher.search("vpn disconnects", 3, mode=mode)
    ids = [h.id for h in hits]
    assert ids[0] == 102 and 105 not in ids and ids.count(102) == 1
    assert hits[0].via == (105,) and all(h.via == () for h in hits[1:])
    assert len(hits) == min(3, len(plain.search("vpn disconnects", 6, mode=mode)) - 1)
    # The master's best score is its duplicate's (the first hit).
    assert hits[0].score == plain.search("vpn disconnects", 1, mode=mode)[0].score


def test_collapse_keeps_the_duplicate_when_its_master_fails_the_filter_and_drops_the_querys_own(
    hash_encoder,
):
    searcher = _with_links(make_searcher(hash_encoder, collapse_duplicates=True), {105: 102})
    # 102 is an incident: a search for problems keeps the duplicate (a problem) as itself.
    hits = searcher.search("vpn disconnects", 3, filters={"type": "problem"})
    assert hits[0].id == 105 and hits[0].via == ()
    # Searching for similar records of 102 itself: its confirmed duplicate is not a result.
    hits = searcher.search("vpn disconnects", 5, exclude={102})
    assert 105 not in {h.id for h in hits} and 102 not in {h.id for h in hits}


def test_collapse_searches_deeper_until_k_records_remain(unit_vectors):
    base = np.zeros(16, dtype=np.float32)
    base[0] = 1.0
    noise = unit_vectors(40, 16)
    vectors = np.stack([base + 0.05 * noise[i] if i < 35 else noise[i] for i in range(40)])
    index = VectorIndex(16)
    ids = list(range(1, 41))
    # 2..35 are confirmed duplicates of 1: the 35 nearest records are one record.
    index.add_many(ids, vectors, [{"duplicate_of": 1} if 2 <= i <= 35 else {} for i in ids])
    lexical = LexicalIndex()
    lexical.add_many(ids, [f"ticket {i}" for i in ids])
    searcher = HybridSearcher(index, lexical, None, collapse_duplicates=True)
    hits = searcher.search("ticket", 3, mode="dense", vector=base)
    assert len(hits) == 3 and hits[0].id == 1 and len(hits[0].via) == 34
    assert {h.id for h in hits[1:]} <= set(range(36, 41))
