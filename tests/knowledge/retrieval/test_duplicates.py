"""Collapsing confirmed duplicates onto their masters (the pure core): chains, cycles, exclusion, filters."""

from __future__ import annotations

from itsm_ai.knowledge.retrieval.duplicates import (
    Collapsed,
    chain,
    collapse,
    payload_allow,
    payload_master,
    target_of,
)


def _links(pairs: dict[int, int]):
    return pairs.get


def test_a_duplicate_is_replaced_by_its_master_once_at_its_first_position_with_its_best_score():
    master_of = _links({2: 9, 3: 9})
    out = collapse([(1, 0.9), (2, 0.8), (3, 0.85), (9, 0.5), (4, 0.4)], master_of)
    assert [c.key for c in out] == [1, 9, 4]
    nine = out[1]
    assert nine == Collapsed(9, 0.85, via=(2, 3), positions=(1, 2, 3))
    assert out[0] == Collapsed(1, 0.9, (), (0,))


def test_a_master_listed_before_its_duplicates_keeps_its_place_and_names_them():
    out = collapse([(9, 0.7), (2, 0.9)], _links({2: 9}))
    assert out == [Collapsed(9, 0.9, (2,), (0, 1))]


def test_chains_are_followed_to_the_end():
    master_of = _links({1: 2, 2: 3})
    assert chain(1, master_of) == [1, 2, 3]
    out = collapse([(1, 0.9), (2, 0.8), (5, 0.1)], master_of)
    assert [(c.key, c.via) for c in out] == [(3, (1, 2)), (5, ())]


def test_cycles_stop_at_the_loops_smallest_key():
    master_of = _links({1: 2, 2: 1, 3: 3, 5: 7, 7: 6, 6: 7})
    assert chain(1, master_of) == [1]
    assert chain(2, master_of) == [2, 1]
    assert chain(3, master_of) == [3]
    assert chain(5, master_of) == [5, 7, 6]
    out = collapse([(2, 0.9), (1, 0.8), (3, 0.7), (7, 0.6), (5, 0.5)], master_of)
    assert [(c.key, c.via) for c in out] == [(1, (2,)), (3, ()), (6, (7, 5))]


def test_a_duplicate_of_the_excluded_query_is_dropped():
    master_of = _links({2: 100, 3: 4})
    out = collapse([(2, 0.9), (3, 0.8)], master_of, exclude={100})
    assert [(c.key, c.via) for c in out] == [(4, (3,))]
    assert target_of(2, master_of, exclude={100}) is None


def test_a_master_failing_the_filter_leaves_the_duplicate_its_own_hit():
    # 9 is still open, the search wants resolved records: 2 stays; along a chain the furthest passing one.
    states = {2: "resolved", 9: "new", 1: "resolved", 5: "resolved", 6: "new"}
    allow = lambda key: states.get(key) == "resolved"  # noqa: E731
    master_of = _links({2: 9, 1: 5, 5: 6})
    out = collapse([(2, 0.9), (1, 0.8)], master_of, allow=allow)
    assert [(c.key, c.via) for c in out] == [(2, ()), (5, (1,))]
    # A master not indexed at all (allow says no) works the same.
    assert target_of(7, _links({7: 70}), allow=lambda key: False) == 7


def test_no_links_leaves_the_ranking_as_it_is():
    hits = [(5, 0.9), (3, 0.8), (8, 0.1)]
    out = collapse(hits, _links({}))
    assert [(c.key, c.score, c.via) for c in out] == [(k, s, ()) for k, s in hits]
    assert collapse([], _links({})) == []


def test_payload_master_reads_duplicate_of():
    payloads = {1: {"type": "incident", "duplicate_of": 7}, 2: {"type": "incident"}, 3: {}}
    master_of = payload_master(payloads.get)
    assert [master_of(k) for k in (1, 2, 3, 4)] == [7, None, None, None]
    allow = payload_allow(payloads.get, lambda p: p.get("type") == "incident")
    assert [allow(k) for k in (1, 3, 4)] == [True, False, False]
    assert [payload_allow(payloads.get, None)(k) for k in (3, 4)] == [True, False]


def test_limit_stops_at_the_first_record_too_many():
    hits = [(1, 0.9), (2, 0.8), (3, 0.7), (4, 0.6), (5, 0.5), (6, 0.4)]
    out = collapse(hits, _links({2: 1, 4: 1, 6: 1}), limit=2)
    assert [(c.key, c.via) for c in out] == [(1, (2, 4)), (3, ())]
