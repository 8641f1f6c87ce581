"""LexicalIndex: BM25 ranking, incremental updates."""

from __future__ import annotations

import pytest

from itsm_ai.knowledge.retrieval.lexical import LexicalIndex

DOCS = {
    1: "Printer on the third floor is not printing",
    2: "Password reset for the SAP account",
    3: "VPN connection drops every few minutes",
    4: "Outlook crashes when opening shared calendar",
    5: "Printers in building B print blank pages",
}


def test_bm25_ranks_matching_documents():
    index = LexicalIndex()
    index.add_many(DOCS.keys(), DOCS.values())
    hits = index.search("printer printing problem", 3)
    assert [i for i, _ in hits][:2] in ([1, 5], [5, 1])
    assert all(score > 0 for _, score in hits)
    assert index.search("kubernetes", 5) == [] and index.search("", 5) == []


def test_incremental_add_update_remove_rebuilds_lazily():
    index = LexicalIndex()
    index.add_many(DOCS.keys(), DOCS.values())
    index.search("vpn", 1)
    rebuilds = index.rebuilds
    index.add(6, "VPN client certificate expired")
    index.update(3, "Wifi drops in meeting room")
    assert index.rebuilds == rebuilds  # nothing rebuilt until a search needs it
    assert [i for i, _ in index.search("vpn", 5)] == [6]
    assert index.rebuilds == rebuilds + 1
    assert index.remove(6) and not index.remove(6)
    assert index.search("vpn", 5) == [] and len(index) == 5 and 6 not in index
    index.search("wifi", 5)
    assert index.rebuilds == rebuilds + 2


def test_allow_and_exclude():
    index = LexicalIndex()
    index.add_many(DOCS.keys(), DOCS.values())
    assert [i for i, _ in index.search("printer", 5, exclude={1})] == [5]
    assert [i for i, _ in index.search("printer", 5, allow=lambda i: i != 5)] == [1]


def test_field_weights_boost_title_terms():
    index = LexicalIndex(field_weights={"title": 3})
    index.add(1, {"title": "outlook crash", "body": "mail client closes with vpn on"})
    index.add(2, {"title": "vpn drops", "body": "outlook shows offline"})
    assert index.search("vpn", 1)[0][0] == 2
    assert index.search("outlook", 1)[0][0] == 1


def test_empty_documents_are_indexable():
    index = LexicalIndex()
    index.add_many([1, 2], ["", "the and of"])
    assert index.search("printer", 3) == []
    index.add(3, "printer jam")
    assert index.search("printer", 3)[0][0] == 3


def test_background_rebuild_serves_the_previous_matrix_meanwhile():
    index = LexicalIndex(background_above=2)
    index.add_many([1, 2, 3], ["printer jam", "vpn drops", "outlook password"])
    assert [i for i, _ in index.search("printer")] == [1]
    index.add(4, "printer toner empty")
    first = [i for i, _ in index.search("printer")]
    assert first in ([1], [1, 4], [4, 1])  # the old matrix, unless the thread already finished
    index.wait_for_rebuild(10)
    assert sorted(i for i, _ in index.search("printer")) == [1, 4]
    index.remove(1)
    index.search("printer")
    index.wait_for_rebuild(10)
    assert [i for i, _ in index.search("printer")] == [4]


def test_score_ids_match_search_scores_and_follow_updates():
    index = LexicalIndex()
    index.add_many(DOCS.keys(), DOCS.values())
    ranked = dict(index.search("printer printing", 5))
    scores = index.score_ids("printer printing", [5, 2, 1, 99])
    assert scores.tolist() == pytest.approx([ranked[5], 0.0, ranked[1], 0.0])
    index.update(2, "printer password")
    assert index.score_ids("printer printing", [2])[0] > 0
    assert index.score_ids("printer", []).shape == (0,)
