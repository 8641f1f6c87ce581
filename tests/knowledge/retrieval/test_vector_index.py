"""VectorIndex: correctness against brute force, kinds, tombstones, filters, persistence, threads."""

from __future__ import annotations

import json
import threading

import numpy as np
import pytest

from itsm_ai.knowledge.retrieval.vector_backend import EXACT, HNSW
from itsm_ai.knowledge.retrieval.vector_filters import compile_filter
from itsm_ai.knowledge.retrieval.vector_index import VectorIndex
from itsm_ai.knowledge.retrieval.vector_snapshot import IndexCompatibilityError

D = 32


def brute_force(ids, vectors, query, k, keep=None):
    scores = vectors @ query
    order = [i for i in np.argsort(-scores, kind="stable") if keep is None or keep(int(ids[i]))]
    return [int(ids[i]) for i in order[:k]]


def payload_for(i: int) -> dict:
    return {
        "type": "incident" if i % 3 else "problem",
        "state": "resolved" if i % 2 else "open",
        "category": ["network", "email", "hardware", "access"][i % 4],
        "opened_at": f"2024-0{1 + i % 9}-15T10:00:00",
    }


@pytest.fixture
def data(unit_vectors):
    ids = np.arange(10_000, 10_600, dtype=np.int64)
    return ids, unit_vectors(len(ids), D)


@pytest.mark.parametrize("kind", [EXACT, HNSW])
def test_search_matches_brute_force(data, unit_vectors, kind):
    ids, x = data
    index = VectorIndex(D, kind=kind, ef_search=200)
    index.add_many(ids, x, [payload_for(int(i)) for i in ids])
    queries = unit_vectors(20, D)
    recall = []
    for q in queries:
        got = [i for i, _ in index.search(q, 10)]
        want = brute_force(ids, x, q, 10)
        recall.append(len(set(got) & set(want)) / 10)
        if kind == EXACT:
            assert got == want
    assert np.mean(recall) >= 0.95
    assert index.kind == kind and len(index) == len(ids)


def test_scores_are_cosine_and_input_is_normalised(data):
    ids, x = data
    index = VectorIndex(D)
    index.add_many(ids[:5], x[:5] * 3.0)  # not unit length: normalised on the way in
    (best_id, best_score), *_ = index.search(x[2] * 0.5, 3)
    assert best_id == ids[2] and best_score == pytest.approx(1.0, abs=1e-5)


@pytest.mark.parametrize("kind", [EXACT, HNSW])
def test_update_and_remove_with_tombstones(data, kind):
    ids, x = data
    index = VectorIndex(D, kind=kind, auto_compact=False)
    index.add_many(ids, x)
    target = int(ids[5])
    # Update: the item now answers for a different vector, once.
    index.update(target, x[100], {"state": "resolved"})
    hits = index.search(x[100], 3)
    assert [i for i, _ in hits][:2].count(target) == 1 and target in [i for i, _ in hits][:2]
    assert target not in [i for i, _ in index.search(x[5], 5)]
    assert index.tombstones == 1 and len(index) == len(ids)
    assert index.payload(target) == {"state": "resolved"}
    # Remove: gone from results, counted as a tombstone until compaction.
    assert index.remove(int(ids[100]))
    assert not index.remove(int(ids[100]))
    assert int(ids[100]) not in [i for i, _ in index.search(x[100], 10)]
    assert index.tombstones == 2 and len(index) == len(ids) - 1
    before = index.search(x[7], 10)
    index.compact()
    assert index.tombstones == 0 and len(index) == len(ids) - 1
    assert [i for i, _ in index.search(x[7], 10)] == [i for i, _ in before]


def test_many_tombstones_still_return_k_and_auto_compact(data):
    ids, x = data
    index = VectorIndex(D, kind=HNSW, compact_ratio=0.5)
    index.add_many(ids, x)
    index.remove_many(ids[:250].tolist())  # 42% dead: below the ratio, no compaction yet
    assert index.tombstones == 250 and index.compactions == 0
    live = set(ids[250:].tolist())
    q = x[10]
    hits = index.search(q, 10)
    assert len(hits) == 10 and all(i in live for i, _ in hits)
    want = brute_force(ids[250:], x[250:], q, 10)
    assert len({i for i, _ in hits} & set(want)) >= 9
    index.remove_many(ids[250:320].tolist())  # crosses 50%: compacts on the spot
    assert index.tombstones == 0 and index.compactions == 1 and len(index) == 280


def test_kind_switches_on_compaction_when_crossing_threshold(unit_vectors):
    x = unit_vectors(200, D)
    index = VectorIndex(D, exact_threshold=100, auto_compact=False)
    index.add_many(range(80), x[:80])
    assert index.kind == EXACT
    index.add_many(range(80, 200), x[80:])
    assert index.kind == EXACT and index.needs_compaction  # grew past the threshold: flagged only
    index.compact()
    assert index.kind == HNSW and index.metadata()["kind"] == HNSW
    index.remove_many(range(160))  # 40 left, under half the threshold
    index.compact()
    assert index.kind == EXACT
    assert [i for i, _ in index.search(x[170], 1)] == [170]


def test_auto_switch_and_bulk_load(unit_vectors):
    x = unit_vectors(300, D)
    bulk = VectorIndex(D, exact_threshold=100)
    bulk.add_many(range(300), x)
    assert bulk.kind == HNSW and bulk.compactions == 0  # bulk load into an empty index picks HNSW directly
    grown = VectorIndex(D, exact_threshold=100)
    for start in range(0, 300, 50):
        grown.add_many(range(start, start + 50), x[start : start + 50])
    assert grown.kind == HNSW and grown.compactions == 1


@pytest.mark.parametrize("kind", [EXACT, HNSW])
def test_filters_dict_callable_and_selective_fallback(data, unit_vectors, kind):
    ids, x = data
    index = VectorIndex(D, kind=kind, ef_search=64)
    payloads = [payload_for(int(i)) for i in ids]
    index.add_many(ids, x, payloads)
    by_id = dict(zip(ids.tolist(), payloads, strict=True))
    q = unit_vectors(1, D)[0]
    flt = {"type": "problem", "category": ["network", "email"]}
    pred = compile_filter(flt)
    hits = index.search(q, 10, filter=flt)
    assert len(hits) == 10 and all(pred(by_id[i]) for i, _ in hits)
    want = brute_force(ids, x, q, 10, keep=lambda i: pred(by_id[i]))
    assert len({i for i, _ in hits} & set(want)) >= 9
    # A callable filter, and a range on opened_at through a per-field callable.
    late = index.search(q, 5, filter={"opened_at": lambda v: v >= "2024-08-01"})
    assert late and all(by_id[i]["opened_at"] >= "2024-08-01" for i, _ in late)
    # Very selective: only 3 items match; over-fetching cannot find them, the exact fallback does.
    rare = set(ids[[3, 333, 555]].tolist())
    hits = index.search(q, 10, filter=lambda p, r=rare: p.get("rare", False))
    assert hits == []
    for i in rare:
        index.update_payload(i, {**by_id[i], "rare": True})
    hits = index.search(q, 10, filter=lambda p: p.get("rare", False))
    assert {i for i, _ in hits} == rare
    assert index.search(q, 10, filter={"state": "no-such-state"}) == []


def test_exclude_and_search_many(data):
    ids, x = data
    index = VectorIndex(D)
    index.add_many(ids, x)
    single = [index.search(q, 5, exclude={int(ids[j])}) for j, q in enumerate(x[:8])]
    batch = index.search_many(x[:8], 5, exclude=[{int(ids[j])} for j in range(8)])
    assert single == batch
    assert all(int(ids[j]) not in [i for i, _ in single[j]] for j in range(8))


def test_bad_input_is_rejected(data):
    ids, x = data
    index = VectorIndex(D)
    with pytest.raises(ValueError, match="shape"):
        index.add(1, np.ones(D + 1))
    with pytest.raises(ValueError, match="NaN"):
        index.add(1, np.full(D, np.nan))
    with pytest.raises(ValueError, match="non-zero"):
        index.add(1, np.zeros(D))
    with pytest.raises(ValueError, match="non-negative"):
        index.add(-5, x[0])
    with pytest.raises(ValueError, match="ids but"):
        index.add_many([1, 2], x[:3])
    assert len(index) == 0 and index.search(x[0], 3) == []


@pytest.mark.parametrize("kind", [EXACT, HNSW])
def test_persistence_round_trip(tmp_path, data, kind):
    ids, x = data
    index = VectorIndex(D, model_name="m", model_version="m==1", kind=kind, ef_search=77)
    index.add_many(ids, x, [payload_for(int(i)) for i in ids])
    index.remove(int(ids[0]))
    index.update(int(ids[1]), x[2])
    saved = index.save(tmp_path / "idx")
    meta = json.loads((saved / "metadata.json").read_text())
    assert meta["model_name"] == "m" and meta["dimension"] == D and meta["count"] == len(ids) - 1
    assert meta["kind"] == kind and meta["params"]["ef_search"] == 77 and meta["built_at"]
    loaded = VectorIndex.load(tmp_path / "idx", expected_model="m", expected_version="m==1")
    assert loaded.kind == kind and len(loaded) == len(index) and loaded.tombstones == index.tombstones
    assert loaded.payload(int(ids[5])) == payload_for(int(ids[5]))
    for q in x[:5]:
        assert loaded.search(q, 10, filter={"state": "open"}) == index.search(q, 10, filter={"state": "open"})
    # Still mutable after loading.
    loaded.add(99, x[9])
    assert loaded.search(x[9], 1)[0][0] in (99, int(ids[9]))


def test_load_refuses_other_model_version_or_dimension(tmp_path, data):
    ids, x = data
    index = VectorIndex(D, model_name="all-MiniLM-L6-v2", model_version="v1")
    index.add_many(ids[:10], x[:10])
    index.save(tmp_path)
    with pytest.raises(IndexCompatibilityError, match="model_name"):
        VectorIndex.load(tmp_path, expected_model="other-model")
    with pytest.raises(IndexCompatibilityError, match="model_version"):
        VectorIndex.load(tmp_path, expected_model="all-MiniLM-L6-v2", expected_version="v2")
    with pytest.raises(IndexCompatibilityError, match="dimension"):
        VectorIndex.load(tmp_path, expected_dimension=384)
    with pytest.raises(FileNotFoundError):
        VectorIndex.load(tmp_path / "missing")


def test_save_is_atomic_and_keeps_previous_snapshot(tmp_path, data, monkeypatch):
    ids, x = data
    index = VectorIndex(D)
    index.add_many(ids[:10], x[:10])
    first = index.save(tmp_path)
    index.add_many(ids[10:20], x[10:20])

    def explode(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr("itsm_ai.knowledge.retrieval.vector_index.write_json", explode)
    with pytest.raises(OSError, match="disk full"):
        index.save(tmp_path)
    monkeypatch.undo()
    assert not list(tmp_path.glob(".tmp-*"))
    assert len(VectorIndex.load(tmp_path)) == 10  # CURRENT still points at the first snapshot
    index.save(tmp_path)
    index.save(tmp_path)
    assert len(VectorIndex.load(tmp_path)) == 20
    assert not first.exists() and len(list(tmp_path.glob("snapshot-*"))) == 2


def test_concurrent_search_and_update(unit_vectors):
    x = unit_vectors(400, D)
    index = VectorIndex(D, exact_threshold=150, compact_ratio=0.3)
    index.add_many(range(200), x[:200])
    errors: list[BaseException] = []
    stop = threading.Event()

    def reader():
        try:
            while not stop.is_set():
                for _, score in index.search(x[np.random.randint(400)], 5, filter=None):
                    assert -1.01 <= score <= 1.01
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    readers = [threading.Thread(target=reader) for _ in range(3)]
    for t in readers:
        t.start()
    try:
        for i in range(200, 400):
            index.add(i, x[i])
            if i % 3 == 0:
                index.remove(i - 150)
            if i % 5 == 0:
                index.update(i - 1, x[i - 1])
    finally:
        stop.set()
        for t in readers:
            t.join()
    assert not errors
    expected = set(range(400)) - {i - 150 for i in range(200, 400) if i % 3 == 0}
    assert set(index.ids()) == expected and len(index) == len(expected)
    assert index.search(x[399], 1)[0][0] == 399


def test_tune_ef_search_reaches_target_and_is_recorded(tmp_path, unit_vectors):
    ids = np.arange(3000, dtype=np.int64)
    x = unit_vectors(len(ids), D)
    index = VectorIndex(D, kind=HNSW, hnsw_m=8, ef_construction=32, ef_search=16)
    index.add_many(ids, x)
    index.remove_many(ids[:100].tolist())  # tombstones must not count as neighbours
    queries = unit_vectors(50, D)
    result = index.tune_ef_search(queries, target_recall=0.97)
    assert result["reached"] and result["recall"] >= 0.97
    assert index.ef_search == result["ef_search"] and index.faiss_index.hnsw.efSearch == index.ef_search
    # The recorded recall holds for the search path on the same queries.
    live = x[100:]
    found = [[i for i, _ in index.search(q, 10)] for q in queries]
    want = [brute_force(ids[100:], live, q, 10) for q in queries]
    assert np.mean([len(set(f) & set(w)) / 10 for f, w in zip(found, want, strict=True)]) >= 0.97
    curve = [c["ef_search"] for c in result["curve"]]
    assert curve[-1] == result["ef_search"] and all(c["recall"] < 0.97 for c in result["curve"][:-1])
    index.save(tmp_path)
    loaded = VectorIndex.load(tmp_path)
    assert loaded.ef_search == index.ef_search and loaded.ef_search_tuning == json.loads(json.dumps(result))


def test_tune_ef_search_leave_one_out_and_errors(data):
    ids, x = data
    exact = VectorIndex(D, kind=EXACT)
    exact.add_many(ids, x)
    with pytest.raises(ValueError, match="HNSW"):
        exact.tune_ef_search()
    index = VectorIndex(D, kind=HNSW, hnsw_m=8, ef_construction=32)
    index.add_many(ids, x)
    result = index.tune_ef_search(target_recall=1.0, sample=50)
    assert result["query_source"].startswith("leave-one-out") and result["queries"] == 50
    assert result["recall"] == 1.0 or not result["reached"]
    with pytest.raises(ValueError, match="target_recall"):
        index.tune_ef_search(target_recall=1.5)
