"""The BM25 side on its own: unresolved tickets wait outside the index until a search could return them (or
too many wait); resolved tickets and articles enter at once; a removal drops an entry wherever it is."""

from __future__ import annotations

from itsm_ai.knowledge.retrieval import deferred_lexical
from itsm_ai.knowledge.retrieval.deferred_lexical import DeferredLexical
from itsm_ai.knowledge.retrieval.documents import ARTICLE, INCIDENT, Doc
from itsm_ai.knowledge.retrieval.lexical import LexicalIndex


def _doc(key: int, title: str, state: str, record_type: str = INCIDENT) -> Doc:
    return Doc(key, title, {"title": title}, {"type": record_type, "state": state, "hash": title})


def _resolved_only(payload: dict) -> bool:
    return payload.get("state") in ("resolved", "closed")


def test_unresolved_tickets_wait_and_the_rest_enter_at_once():
    side = DeferredLexical(LexicalIndex())
    docs = [_doc(1, "printer jam", "resolved"), _doc(2, "vpn drops", "new"), _doc(3, "outlook", "", ARTICLE)]
    side.add(docs)
    assert set(side.deferred) == {2} and 1 in side.index and 3 in side.index and 2 not in side.index
    assert len(side) == 3


def test_a_search_that_cannot_return_a_waiting_entry_leaves_it_waiting():
    side = DeferredLexical(LexicalIndex())
    payloads = {2: {"type": INCIDENT, "state": "new"}}
    side.add([_doc(1, "printer jam", "resolved"), _doc(2, "vpn drops", "new")])
    side.index.search("printer", 1)
    rebuilds = side.index.rebuilds
    side.admit(_resolved_only, payloads.get)
    assert set(side.deferred) == {2} and side.index.rebuilds == rebuilds
    # A state change without a text change only updates the payload: the search can now return it.
    payloads[2] = {"type": INCIDENT, "state": "resolved"}
    side.admit(_resolved_only, payloads.get)
    assert side.deferred == {} and [i for i, _ in side.index.search("vpn", 1)] == [2]


def test_any_search_admits_every_waiting_entry():
    side = DeferredLexical(LexicalIndex())
    side.add([_doc(2, "vpn drops", "new")])
    side.admit()
    assert side.deferred == {} and 2 in side.index


def test_a_reopened_ticket_leaves_the_index_and_a_removal_drops_it_anywhere():
    side = DeferredLexical(LexicalIndex())
    side.add([_doc(1, "printer jam", "resolved"), _doc(2, "vpn drops", "new")])
    side.add([_doc(1, "printer jam", "in_progress")])
    assert 1 not in side.index and set(side.deferred) == {1, 2}
    side.remove(1)
    side.remove(2)
    assert len(side) == 0


def test_too_many_waiting_entries_enter_anyway(monkeypatch):
    monkeypatch.setattr(deferred_lexical, "LEXICAL_DEFER_MAX", 2)
    side = DeferredLexical(LexicalIndex())
    side.add([_doc(1, "printer jam", "new"), _doc(2, "vpn drops", "new")])
    assert set(side.deferred) == {1, 2}
    side.add([_doc(3, "outlook crashes", "new")])
    assert side.deferred == {} and all(k in side.index for k in (1, 2, 3))
