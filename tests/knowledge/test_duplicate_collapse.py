"""Similar-ticket search lists the master of a confirmed duplicate (with the duplicate as evidence): after a
confirmation, after un-setting it, after a restart from an index saved before the links, and on create."""

from __future__ import annotations

from types import SimpleNamespace

from itsm_ai.knowledge import flows
from itsm_ai.knowledge.retrieval import service as retrieval
from itsm_ai.knowledge.retrieval.documents import RESOLVED_STATES, make_key
from tests.knowledge.helpers import (
    API,
    OUTLOOK,
    PRINTER,
    api_incident,
    api_patch,
    api_resolve,
    api_resolved,
    service_incident,
    service_resolve,
    service_update,
)

# The same problem as PRINTER in other words: a query in these words finds this one first.
QUEUE = (
    "Print queue stuck, nothing prints on floor 3",
    "Documents wait in the print queue forever and the floor 3 printer stays idle.",
    "Cleared the print queue.",
)


def _similar(client, headers, number):
    r = client.get(f"{API}/incidents/{number}/similar", headers=headers)
    assert r.status_code == 200, r.text
    return r.json()["items"]


def test_confirming_a_duplicate_lists_its_master_and_unsetting_it_lists_the_duplicate_again(kclient, users):
    agent = users["agent"].headers
    master = api_resolved(kclient, agent, PRINTER)
    dup = api_resolved(kclient, agent, QUEUE)
    query = api_incident(kclient, agent, *QUEUE[:2])
    before = [i["number"] for i in _similar(kclient, agent, query["number"])]
    assert before[0] == dup["number"] and master["number"] in before

    r = kclient.post(
        f"{API}/incidents/{dup['number']}/duplicate/confirm", headers=agent, json={"number": master["number"]}
    )
    assert r.status_code == 200, r.text
    items = _similar(kclient, agent, query["number"])
    numbers = [i["number"] for i in items]
    assert numbers[0] == master["number"] and dup["number"] not in numbers
    assert items[0]["via"] == [dup["number"]] and items[0]["suggested_fix"] == PRINTER[2]
    assert all(i["via"] == [] for i in items[1:])

    api_patch(kclient, agent, f"incidents/{dup['number']}", {"duplicate_of": None})
    items = _similar(kclient, agent, query["number"])
    assert [i["number"] for i in items][:2] == before[:2] and items[0]["via"] == []


def test_an_open_master_keeps_the_resolved_duplicate_as_the_fix(kclient, users):
    agent = users["agent"].headers
    master = api_incident(kclient, agent, *PRINTER[:2])  # still open: no fix to offer yet
    dup = api_resolved(kclient, agent, QUEUE)
    api_patch(kclient, agent, f"incidents/{dup['number']}", {"duplicate_of": master["number"]})
    query = api_incident(kclient, agent, *QUEUE[:2])
    items = _similar(kclient, agent, query["number"])
    assert items[0]["number"] == dup["number"] and items[0]["via"] == []


def test_the_similar_records_of_a_master_do_not_list_its_own_duplicates(kclient, users):
    agent = users["agent"].headers
    master = api_resolved(kclient, agent, PRINTER)
    dup = api_resolved(kclient, agent, QUEUE)
    api_patch(kclient, agent, f"incidents/{dup['number']}", {"duplicate_of": master["number"]})
    numbers = [i["number"] for i in _similar(kclient, agent, master["number"])]
    assert dup["number"] not in numbers and master["number"] not in numbers


def test_an_index_saved_before_the_links_gets_them_at_restart(
    svc, db_session, knowledge_settings, hash_encoder
):
    master = service_resolve(db_session, service_incident(db_session, *PRINTER[:2]), PRINTER[2])
    dup = service_resolve(db_session, service_incident(db_session, *QUEUE[:2]), QUEUE[2])
    service_update(db_session, dup, duplicate_of=master.number)
    svc.ensure_ready(db_session)
    svc.flush()
    key = make_key("incident", dup.id)
    assert svc.index.payload(key)["duplicate_of"] == make_key("incident", master.id)
    # What an index saved by the previous release holds: no links in the payloads.
    old = {k: v for k, v in svc.index.payload(key).items() if k != "duplicate_of"}
    svc.index.update_payload(key, old)
    svc.save()

    restarted = retrieval.RetrievalService(encoder=hash_encoder, settings=knowledge_settings)
    restarted.ensure_ready(db_session)
    assert restarted.last_reconcile["embedded"] == 0 and restarted.last_reconcile["updated_payloads"] == 1
    items = restarted.search(db_session, QUEUE[0], states=RESOLVED_STATES)
    assert items[0]["number"] == master.number and items[0]["via"] == [dup.number]
    assert dup.number not in [i["number"] for i in items]


def test_a_link_change_updates_the_payload_without_embedding_again(svc, db_session, monkeypatch):
    master = service_resolve(db_session, service_incident(db_session, *PRINTER[:2]), PRINTER[2])
    dup = service_resolve(db_session, service_incident(db_session, *QUEUE[:2]), QUEUE[2])
    svc.ensure_ready(db_session)
    svc.flush()
    vector = svc.vector_of("incident", dup.id)
    calls = []
    monkeypatch.setattr(svc.vectors, "encode", lambda *a, **kw: calls.append(a) or [])
    service_update(db_session, dup, duplicate_of=master.number)
    svc.flush()
    assert calls == []
    assert svc.index.payload(make_key("incident", dup.id))["duplicate_of"] == make_key("incident", master.id)
    assert (svc.vector_of("incident", dup.id) == vector).all()


def test_search_without_collapse_lists_the_duplicate(svc, db_session):
    master = service_resolve(db_session, service_incident(db_session, *PRINTER[:2]), PRINTER[2])
    dup = service_resolve(db_session, service_incident(db_session, *QUEUE[:2]), QUEUE[2])
    service_update(db_session, dup, duplicate_of=master.number)
    assert svc.search(db_session, QUEUE[0], states=RESOLVED_STATES)[0]["number"] == master.number
    svc.settings = svc.settings.model_copy(update={"knowledge_collapse_duplicates": False})
    items = svc.search(db_session, QUEUE[0], states=RESOLVED_STATES)
    assert items[0]["number"] == dup.number and items[0]["via"] == []


def test_a_new_incident_is_flagged_as_a_duplicate_of_the_open_master(kclient, users, svc, db_session):
    agent = users["agent"].headers
    master = api_incident(kclient, agent, *OUTLOOK[:2])
    words = ("Outlook prompts for my password again and again", "It says disconnected, all day long.")
    dup = api_incident(kclient, agent, *words)
    api_patch(kclient, agent, f"incidents/{dup['number']}", {"duplicate_of": master["number"]})
    flagged = api_incident(kclient, agent, *words)
    found = flagged["suggestions"]["duplicate"]
    assert found["number"] == master["number"] and found["via"] == [dup["number"]]
    assert found["score"] >= 0.99  # the duplicate's similarity, which led to the master
    # Out of the way: the next checks are about the duplicate and its master only.
    api_patch(kclient, agent, f"incidents/{flagged['number']}", {"state": "cancelled"})

    vector = svc.encode(flows.query_text(SimpleNamespace(short_description=words[0], description=words[1])))
    svc.settings = svc.settings.model_copy(update={"knowledge_collapse_duplicates": False})
    assert flows._find_duplicate(db_session, svc, vector)["number"] == dup["number"]
    svc.settings = svc.settings.model_copy(update={"knowledge_collapse_duplicates": True})
    # A resolved master is no open incident to join: the nearest open one is suggested as before.
    api_resolve(kclient, agent, master["number"], OUTLOOK[2])
    found = flows._find_duplicate(db_session, svc, vector)
    assert found["number"] == dup["number"] and "via" not in found
