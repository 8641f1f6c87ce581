"""Suggestions on create (similar records, likely duplicate), confirm/dismiss, major-incident candidates."""

from __future__ import annotations

from tests.api.conftest import assert_error
from tests.knowledge.helpers import API, OUTLOOK, PRINTER, VPN, api_incident, api_resolved


def _suggestions(client, headers, number):
    return client.get(f"{API}/incidents/{number}", headers=headers).json()["suggestions"]


def test_new_incident_gets_similar_fixes_and_a_duplicate_flag(kclient, users):
    agent = users["agent"].headers
    fixed = api_resolved(kclient, agent, PRINTER)
    api_resolved(kclient, agent, VPN)
    first = api_incident(kclient, agent, "Outlook cannot connect to the mail server", OUTLOOK[1])
    assert first["suggestions"]["duplicate"] is None
    new = api_incident(kclient, agent, "Outlook cannot connect to the mail server", OUTLOOK[1])
    sugg = new["suggestions"]
    assert sugg["duplicate"]["number"] == first["number"] and sugg["duplicate"]["status"] == "suggested"
    assert sugg["duplicate"]["score"] >= 0.85
    assert new["version"] == 1  # written with the INSERT, no second update

    printing = api_incident(kclient, agent, "Print jobs stuck in the printer queue")
    top = printing["suggestions"]["similar"][0]
    assert top["number"] == fixed["number"] and top["suggested_fix"] == PRINTER[2]
    assert set(top) == {
        "number",
        "record_type",
        "correlation_id",
        "short_description",
        "score",
        "state",
        "suggested_fix",
        "url",
        "via",
    }
    assert top["via"] == []
    assert printing["suggestions"]["duplicate"] is None  # the printer ticket is resolved, not open


def test_suggestions_merge_with_other_keys(svc, db_session):
    from itsm_ai.knowledge.flows import merge_suggestions

    merged = merge_suggestions({"fields": {"category": {"status": "suggested"}}}, similar=[], duplicate=None)
    assert merged == {"fields": {"category": {"status": "suggested"}}, "similar": [], "duplicate": None}


def test_confirm_sets_duplicate_of_through_the_audited_update(kclient, users):
    agent = users["agent"].headers
    master = api_incident(kclient, agent, *OUTLOOK[:2])
    dup = api_incident(kclient, agent, *OUTLOOK[:2])
    r = kclient.post(f"{API}/incidents/{dup['number']}/duplicate/confirm", headers=agent)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["duplicate_of"] == master["number"]
    assert body["suggestions"]["duplicate"]["status"] == "confirmed"
    assert body["suggestions"]["duplicate"]["by"] == "agent"
    assert body["version"] == dup["version"] + 1
    audit = kclient.get(f"{API}/incidents/{dup['number']}/audit", headers=agent).json()
    assert any(e["field"] == "duplicate_of" and e["new_value"] == master["number"] for e in audit), audit


def test_dismiss_keeps_the_ticket_and_records_who(kclient, users):
    agent = users["agent"].headers
    api_incident(kclient, agent, *VPN[:2])
    dup = api_incident(kclient, agent, *VPN[:2])
    r = kclient.post(f"{API}/incidents/{dup['number']}/duplicate/dismiss", headers=agent)
    assert r.status_code == 200, r.text
    assert r.json()["suggestions"]["duplicate"]["status"] == "dismissed"
    assert r.json()["duplicate_of"] is None and r.json()["version"] == dup["version"]


def test_confirm_and_dismiss_errors(kclient, users):
    agent = users["agent"].headers
    lone = api_incident(kclient, agent, "A ticket like no other", "unique words zebra")
    assert_error(
        kclient.post(f"{API}/incidents/{lone['number']}/duplicate/confirm", headers=agent), 422, "number"
    )
    assert_error(
        kclient.post(f"{API}/incidents/{lone['number']}/duplicate/dismiss", headers=agent), 409, "duplicate"
    )
    self_ref = kclient.post(
        f"{API}/incidents/{lone['number']}/duplicate/confirm", headers=agent, json={"number": lone["number"]}
    )
    assert_error(self_ref, 422, "number")
    unknown = kclient.post(
        f"{API}/incidents/{lone['number']}/duplicate/confirm", headers=agent, json={"number": "INC7777777"}
    )
    assert_error(unknown, 404)
    for role in ("requester", "data_scientist"):
        denied = kclient.post(
            f"{API}/incidents/{lone['number']}/duplicate/confirm", headers=users[role].headers
        )
        assert_error(denied, 403)


def test_major_incident_candidate_and_problem(kclient, users):
    agent = users["agent"].headers
    texts = [
        "Email server down, nobody can send mail",
        "Email server down cannot send mail",
        "Nobody can send mail, email server down",
    ]
    made = [api_incident(kclient, agent, t, "mail server outage") for t in texts]
    last = made[-1]["suggestions"]["major_incident"]
    assert last["status"] == "suggested" and last["problem"] is None
    assert sorted(last["incidents"]) == sorted(m["number"] for m in made)
    first = _suggestions(kclient, agent, made[0]["number"])
    assert first["major_incident"]["incidents"] == last["incidents"]
    before = kclient.get(f"{API}/incidents/{made[0]['number']}", headers=agent).json()
    assert before["version"] == 1 and before["updated_at"] == made[0]["updated_at"]  # a note, not an edit

    r = kclient.post(f"{API}/incidents/{made[0]['number']}/major-incident/problem", headers=agent)
    assert r.status_code == 201, r.text
    problem = r.json()["problem"]
    assert problem and problem.startswith("PRB")
    for m in made:
        inc = kclient.get(f"{API}/incidents/{m['number']}", headers=agent).json()
        assert inc["problem"] == problem
        assert inc["suggestions"]["major_incident"]["status"] == "created"
    again = kclient.post(f"{API}/incidents/{made[1]['number']}/major-incident/problem", headers=agent)
    assert_error(again, 409, "major_incident")
    # A fourth similar incident joins the existing problem.
    fourth = api_incident(kclient, agent, "Email server down again, cannot send mail", "mail server outage")
    assert fourth["suggestions"]["major_incident"]["problem"] == problem
    assert kclient.get(f"{API}/incidents/{fourth['number']}", headers=agent).json()["problem"] == problem


def test_major_incident_can_create_the_problem_at_once(kclient, users, svc):
    svc.settings = svc.settings.model_copy(update={"knowledge_major_incident_create_problem": True})
    agent = users["agent"].headers
    made = [api_incident(kclient, agent, f"Wifi down in building B {i}", "wireless outage") for i in range(3)]
    inc = kclient.get(f"{API}/incidents/{made[0]['number']}", headers=agent).json()
    assert inc["problem"] and inc["suggestions"]["major_incident"]["status"] == "created"
    problems = kclient.get(f"{API}/problems", headers=agent).json()["items"]
    assert [p["number"] for p in problems] == [inc["problem"]]


def test_no_candidate_below_the_count(kclient, users):
    agent = users["agent"].headers
    made = [api_incident(kclient, agent, "Disk full on file server", "share out of space") for _ in range(2)]
    assert made[-1]["suggestions"].get("major_incident") is None
