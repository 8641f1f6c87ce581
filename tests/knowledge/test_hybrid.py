"""Reciprocal rank fusion maths and the hybrid searcher (hashing encoder; the real model in a slow test)."""

from __future__ import annotations

import pytest

from itsm_ai.knowledge.hybrid import Hit, HybridSearcher, reciprocal_rank_fusion
from itsm_ai.knowledge.lexical import LexicalIndex
from itsm_ai.knowledge.vector_index import VectorIndex

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


@pytest.mark.slow
def test_hybrid_with_real_encoder(encoder):
    searcher = make_searcher(encoder)
    # "Mail" and "inbox" share no token with ticket 104's words other than the meaning.
    dense = searcher.search("my inbox is over its storage quota", 2, mode="dense")
    assert dense[0].id == 104
    hybrid = searcher.search("laptop for a new employee", 2)
    assert hybrid[0].id == 106
