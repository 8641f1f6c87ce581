"""The index follows committed writes (create, resolve, edit, delete, publish, retire), not rollbacks."""

from __future__ import annotations

from itsm_ai.knowledge.article.service import ARTICLE
from itsm_ai.knowledge.retrieval.documents import content_hash, doc_for, make_key
from itsm_ai.records import service as records
from itsm_ai.ticket.service import INCIDENT
from tests.knowledge.helpers import PRINTER, VPN, service_incident, service_resolve, service_update


def _numbers(svc, session, text, **kw):
    kw.setdefault("states", None)
    return [i["number"] for i in svc.search(session, text, **kw)]


def test_resolve_edit_delete_follow_at_once(svc, db_session):
    svc.ensure_ready(db_session)
    inc = service_incident(db_session, *PRINTER[:2])
    assert make_key("incident", inc.id) in svc._pending  # queued by the commit, not yet embedded
    assert _numbers(svc, db_session, PRINTER[0], states=["new"]) == [inc.number]
    inc = service_resolve(db_session, inc, PRINTER[2])
    svc.flush()
    assert svc.index.payload(make_key("incident", inc.id))["state"] == "resolved"
    assert _numbers(svc, db_session, PRINTER[0], states=["resolved"]) == [inc.number]
    assert _numbers(svc, db_session, PRINTER[0], states=["new"]) == []

    inc = service_update(db_session, inc, short_description=VPN[0], description=VPN[1])
    assert _numbers(svc, db_session, "vpn disconnects")[0] == inc.number
    stored = svc.index.payload(make_key("incident", inc.id))
    assert stored["hash"] == doc_for("incident", inc).payload["hash"]

    records.delete(db_session=db_session, spec=INCIDENT, obj=inc, actor=None)
    db_session.commit()
    assert _numbers(svc, db_session, "vpn disconnects") == []
    assert make_key("incident", inc.id) not in svc.index


def test_cancelled_incident_leaves_the_index(svc, db_session):
    inc = service_incident(db_session, *PRINTER[:2])
    assert _numbers(svc, db_session, PRINTER[0]) == [inc.number]
    service_update(db_session, inc, state="cancelled")
    assert _numbers(svc, db_session, PRINTER[0]) == []


def test_rolled_back_writes_never_reach_the_index(svc, db_session):
    svc.ensure_ready(db_session)
    inc = records.create(
        db_session=db_session,
        spec=INCIDENT,
        data=INCIDENT.create_schema(short_description=PRINTER[0]).model_dump(),
        actor=None,
    )
    assert inc.id is not None
    db_session.rollback()
    assert not svc._pending
    assert _numbers(svc, db_session, PRINTER[0]) == []
    kept = service_incident(db_session, *VPN[:2])
    # An edit rolled back: the index keeps the committed text.
    obj = db_session.get(type(kept), kept.id)
    records.update(
        db_session=db_session,
        spec=INCIDENT,
        obj=obj,
        data={"version": obj.version, "short_description": "Something else entirely"},
        actor=None,
    )
    db_session.rollback()
    assert _numbers(svc, db_session, VPN[0]) == [kept.number]
    assert _numbers(svc, db_session, "Something else entirely") in ([], [kept.number])
    payload = svc.index.payload(make_key("incident", kept.id))
    assert payload["hash"] == content_hash(f"{VPN[0]}\n{VPN[1]}")


def test_savepoint_rollback_of_an_insert_is_ignored(svc, db_session):
    svc.ensure_ready(db_session)
    try:
        with db_session.begin_nested():
            records.create(
                db_session=db_session,
                spec=INCIDENT,
                data=INCIDENT.create_schema(short_description=PRINTER[0]).model_dump(),
                actor=None,
            )
            raise RuntimeError("undo this row")
    except RuntimeError:
        pass
    db_session.commit()
    assert not svc._pending and _numbers(svc, db_session, PRINTER[0]) == []


def _article(session, title, text):
    art = records.create(
        db_session=session,
        spec=ARTICLE,
        data=ARTICLE.create_schema(short_description=title, text=text).model_dump(),
        actor=None,
    )
    session.commit()
    return art


def _article_state(session, art, state):
    art = records.update(
        db_session=session, spec=ARTICLE, obj=art, data={"version": art.version, "state": state}, actor=None
    )
    session.commit()
    return art


def test_articles_are_indexed_only_while_published(svc, db_session):
    art = _article(db_session, "Fix a stuck print queue", "Restart the print spooler service.")
    art = _article_state(db_session, art, "review")
    assert _numbers(svc, db_session, "print queue stuck") == []
    art = _article_state(db_session, art, "published")
    assert _numbers(svc, db_session, "print queue stuck") == [art.number]
    art = records.update(
        db_session=db_session,
        spec=ARTICLE,
        obj=art,
        data={
            "version": art.version,
            "short_description": "Reset the VPN tunnel",
            "text": "Switch to IKEv2.",
        },
        actor=None,
    )
    db_session.commit()
    assert _numbers(svc, db_session, "vpn tunnel ikev2") == [art.number]
    _article_state(db_session, art, "retired")
    assert _numbers(svc, db_session, "vpn tunnel ikev2") == []


def test_a_failed_embedding_keeps_the_change_queued(svc, db_session):
    import pytest

    svc.ensure_ready(db_session)
    inc = service_incident(db_session, *PRINTER[:2])
    real = svc.switch.encoder

    class Broken:
        model_name, model_version, dimension = real.model_name, real.model_version, real.dimension

        def encode(self, texts):
            raise RuntimeError("model crashed")

    svc.switch.encoder = Broken()
    with pytest.raises(RuntimeError):
        svc.flush()
    assert make_key("incident", inc.id) in svc._pending
    svc.switch.encoder = real
    assert _numbers(svc, db_session, PRINTER[0]) == [inc.number]


def test_a_released_savepoint_is_not_a_commit(svc, db_session):
    svc.ensure_ready(db_session)
    records.create(
        db_session=db_session,
        spec=INCIDENT,
        data=INCIDENT.create_schema(short_description=PRINTER[0]).model_dump(),
        actor=None,
    )
    with db_session.begin_nested():  # a listener's savepoint, released: the outer write is still open
        pass
    assert not svc._pending
    db_session.rollback()
    assert not svc._pending and _numbers(svc, db_session, PRINTER[0]) == []
