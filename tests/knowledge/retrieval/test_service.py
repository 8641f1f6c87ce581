"""The retrieval service over the store: search, filters, exact/HNSW choice, persistence, model refusal,
restart reconciliation."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import delete, update

from itsm_ai.database import utcnow
from itsm_ai.knowledge.retrieval import service as retrieval
from itsm_ai.knowledge.retrieval import sync
from itsm_ai.knowledge.retrieval.documents import RESOLVED_STATES, make_key
from itsm_ai.knowledge.retrieval.factory import new_hybrid_searcher
from itsm_ai.knowledge.retrieval.vector_index import VectorIndex
from itsm_ai.knowledge.retrieval.vector_snapshot import IndexCompatibilityError
from itsm_ai.ticket.models import Incident
from tests.knowledge.helpers import OUTLOOK, PRINTER, VPN, service_incident, service_resolve


def _resolved(session, triple, **fields):
    return service_resolve(session, service_incident(session, triple[0], triple[1], **fields), triple[2])


def test_search_finds_resolved_ticket_with_its_fix(svc, db_session):
    for triple in (PRINTER, VPN, OUTLOOK):
        _resolved(db_session, triple)
    items = retrieval.search(db_session=db_session, text="my print job is stuck in the printer queue", k=3)
    assert items[0]["short_description"] == PRINTER[0]
    assert items[0]["suggested_fix"] == PRINTER[2]
    assert items[0]["record_type"] == "incident" and items[0]["state"] == "resolved"
    assert items[0]["number"].startswith("INC") and items[0]["url"].endswith(items[0]["number"])
    assert 0 < items[0]["score"] <= 1
    assert retrieval.search(db_session=db_session, text="   ") == []


def test_open_tickets_are_indexed_but_not_suggested_as_fixes(svc, db_session):
    service_incident(db_session, *PRINTER[:2])
    assert retrieval.search(db_session=db_session, text=PRINTER[0]) == []
    items = svc.search(db_session, PRINTER[0], states=["new"])
    assert [i["state"] for i in items] == ["new"]


def test_filters_by_type_category_and_opening_time(svc, db_session):
    now = utcnow()
    _resolved(db_session, PRINTER, category="hardware", opened_at=now - timedelta(days=10))
    _resolved(db_session, (PRINTER[0] + " again", *PRINTER[1:]), category="printing", opened_at=now)
    both = svc.search(db_session, PRINTER[0], states=RESOLVED_STATES)
    assert len(both) == 2
    only = svc.search(db_session, PRINTER[0], states=RESOLVED_STATES, category="printing")
    assert [i["category"] for i in only] == ["printing"]
    recent = svc.search(
        db_session, PRINTER[0], states=RESOLVED_STATES, opened_after=now - timedelta(days=1)
    )
    assert [i["category"] for i in recent] == ["printing"]
    old = svc.search(db_session, PRINTER[0], states=RESOLVED_STATES, opened_before=now - timedelta(days=1))
    assert [i["category"] for i in old] == ["hardware"]
    assert svc.search(db_session, PRINTER[0], types=["knowledge_article"]) == []


def test_published_only_searches_articles(svc, db_session):
    _resolved(db_session, PRINTER)
    assert retrieval.search(db_session=db_session, text=PRINTER[0], published_only=True) == []


def test_index_records_exact_or_hnsw_with_its_params(
    svc, db_session, knowledge_settings, hash_encoder, tmp_path
):
    for i in range(12):
        service_incident(db_session, f"ticket number {i} about topic {i % 3}", "words")
    small = retrieval.RetrievalService(
        encoder=hash_encoder,
        settings=knowledge_settings.model_copy(update={"knowledge_exact_threshold": 4}),
        directory=tmp_path / "hnsw",
    )
    small.rebuild(db_session)
    meta = small.status()
    assert meta["kind"] == "hnsw" and meta["count"] == 12
    assert (
        meta["params"]["exact_threshold"] == 4
        and meta["params"]["hnsw_m"] == knowledge_settings.knowledge_hnsw_m
    )
    assert (
        meta["model_name"] == hash_encoder.model_name and meta["model_version"] == hash_encoder.model_version
    )
    svc.ensure_ready(db_session)
    assert svc.status()["kind"] == "exact"
    # The choice and the parameters are saved with the vectors.
    assert VectorIndex.load(tmp_path / "hnsw").metadata()["kind"] == "hnsw"


def test_refuses_an_index_built_with_another_model(svc, db_session, knowledge_settings, hash_encoder):
    _resolved(db_session, PRINTER)
    svc.ensure_ready(db_session)
    svc.save()

    class OtherModel(type(hash_encoder)):
        model_version = "hash-bow==2"

    with pytest.raises(IndexCompatibilityError, match="model_version"):
        VectorIndex.load(
            svc.directory, expected_model=OtherModel.model_name, expected_version=OtherModel.model_version
        )
    other = retrieval.RetrievalService(encoder=OtherModel(), settings=knowledge_settings)
    other.ensure_ready(db_session)
    assert "model_version" in other.status()["refused"]
    assert other.last_reconcile["embedded"] == 1  # rebuilt from the database with the new model
    assert VectorIndex.load(svc.directory).model_version == "hash-bow==2"


def test_restart_reconciles_with_the_database(svc, db_session, knowledge_settings, hash_encoder):
    kept = _resolved(db_session, PRINTER)
    gone = _resolved(db_session, OUTLOOK)  # not the highest id: SQLite would hand it out again
    changed = _resolved(db_session, VPN)
    svc.ensure_ready(db_session)
    svc.flush()
    svc.save()
    # Behind the service's back (a crash, another process, a bulk load): edit, delete, insert.
    db_session.execute(
        update(Incident).where(Incident.id == changed.id).values(short_description="Laptop battery swollen")
    )
    db_session.execute(delete(Incident).where(Incident.id == gone.id))
    db_session.commit()
    added = service_incident(db_session, "Monitor flickers", "The external monitor flickers.")
    restarted = retrieval.RetrievalService(encoder=hash_encoder, settings=knowledge_settings)
    restarted.ensure_ready(db_session)
    summary = restarted.last_reconcile
    assert summary["embedded"] == 2 and summary["removed"] == 1 and summary["indexed"] == 3
    assert summary["refused"] is None
    keys = set(restarted.index.ids())
    assert keys == {make_key("incident", o.id) for o in (kept, changed, added)}
    hits = restarted.search(db_session, "battery swollen", states=["resolved"])
    assert hits[0]["number"] == changed.number


def test_hits_whose_row_changed_behind_the_index_are_dropped(svc, db_session):
    inc = _resolved(db_session, PRINTER)
    svc.ensure_ready(db_session)
    svc.flush()
    svc.watermarks.catch_up_seconds = 3600  # no catch-up: only the read-time check protects the result
    db_session.execute(update(Incident).where(Incident.id == inc.id).values(short_description="Other text"))
    db_session.commit()
    assert svc.search(db_session, PRINTER[0], states=RESOLVED_STATES) == []
    # The drop queued a re-sync: the next search finds the new text.
    assert svc.search(db_session, "Other text", states=RESOLVED_STATES)[0]["number"] == inc.number


def test_catch_up_indexes_rows_written_without_events(svc, db_session):
    svc.ensure_ready(db_session)
    now = utcnow()
    db_session.execute(
        Incident.__table__.insert().values(
            number="INC9000001",
            short_description=VPN[0],
            description=VPN[1],
            state="resolved",
            resolution_notes=VPN[2],
            opened_at=now,
            created_at=now,
            updated_at=now,
            version=1,
            impact=3,
            urgency=3,
            priority=4,
        )
    )
    db_session.commit()
    items = svc.search(db_session, "vpn disconnects", states=RESOLVED_STATES)
    assert items and items[0]["number"] == "INC9000001"


def test_creating_a_ticket_does_not_wait_for_a_start_up_build(svc, db_session):
    import threading

    held, release = threading.Event(), threading.Event()

    def build():
        with svc._lock:
            held.set()
            release.wait(10)

    thread = threading.Thread(target=build)
    thread.start()
    held.wait(10)
    try:
        assert svc.ensure_ready(db_session, wait=False) is False
        inc = service_incident(db_session, *PRINTER[:2])
        assert inc.suggestions is None or "similar" not in inc.suggestions
    finally:
        release.set()
        thread.join()
    assert svc.ensure_ready(db_session, wait=False) is True


def test_startup_warm_up_and_shutdown_save(svc, db_session):
    _resolved(db_session, PRINTER)
    thread = sync.on_startup(background=True)
    if thread is not None:
        thread.join(30)
    else:
        sync.warm_up()
    svc.flush()
    assert svc.ready and len(svc.index) == 1
    assert sync.on_startup(background=False) is None
    service_incident(db_session, *VPN[:2])
    assert sync.flush_job()["applied"] == 1
    svc._dirty = True
    sync.on_shutdown()
    assert VectorIndex.load(svc.directory).metadata()["count"] == 2


def test_service_builds_bm25_and_fusion_from_settings(knowledge_settings, hash_encoder):
    tuned = retrieval.RetrievalService(encoder=hash_encoder, settings=knowledge_settings)
    s = knowledge_settings
    assert (tuned.lexical.index.k1, tuned.lexical.index.b) == (s.knowledge_bm25_k1, s.knowledge_bm25_b)
    assert tuned.lexical.index.field_weights["title"] == s.knowledge_bm25_title_weight
    custom = knowledge_settings.model_copy(
        update={"knowledge_bm25_k1": 0.9, "knowledge_hybrid_fusion": "rrf", "knowledge_hybrid_rrf_k": 10,
                "knowledge_hybrid_candidates": 20, "knowledge_hybrid_lexical_weight": 2.0}
    )
    svc = retrieval.RetrievalService(encoder=hash_encoder, settings=custom)
    assert svc.lexical.index.k1 == 0.9
    index = VectorIndex.for_encoder(hash_encoder)
    searcher = new_hybrid_searcher(index, svc.lexical.index, hash_encoder, custom)
    assert (searcher.fusion, searcher.rrf_k, searcher.candidates) == ("rrf", 10, 20)
    assert (searcher.dense_weight, searcher.lexical_weight) == (custom.knowledge_hybrid_dense_weight, 2.0)

