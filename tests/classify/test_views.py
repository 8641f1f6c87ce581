"""Triage over the API: suggestions on create (with evidence), hidden from requesters, accept/override as
audited feedback, auto mode, free-text triage, and the model registry for data scientists."""

from __future__ import annotations

from itsm_ai.classify.serving import suggestions
from itsm_ai.classify.training.trainer import train_model
from itsm_ai.registry import store
from tests.api.conftest import assert_error

API = "/api/v1"
HARDWARE = "monitor screen broken laptop keyboard replacement hardware"


def _incident(client, headers, text=HARDWARE, **extra):
    r = client.post(f"{API}/incidents", json={"short_description": text, **extra}, headers=headers)
    assert r.status_code == 201, r.text
    return r.json()


def _known_texts(demo_csv, n: int = 12) -> list[str]:
    """Training tickets of the larger topics: the model is sure about some of them."""
    import csv

    with demo_csv.open(newline="", encoding="utf-8") as fh:
        rows = [r for r in csv.DictReader(fh) if r["Topic_group"] in ("Hardware", "HR Support", "Access")]
    return [r["Document"][:250] for r in rows[:n]]


def _confident_incident(client, headers, demo_csv, status="suggested"):
    """An incident whose category suggestion has the status (a value above the class threshold)."""
    for text in _known_texts(demo_csv):
        ticket = _incident(client, headers, text)
        if ticket["suggestions"]["fields"]["category"]["status"] == status:
            return ticket
    raise AssertionError(f"no training ticket got a {status} category")


def test_new_incident_gets_suggestions_with_evidence(client, users, trained):
    ticket = _incident(client, users["agent"].headers)
    fields = ticket["suggestions"]["fields"]
    category = fields["category"]
    assert category["model"] == "category" and category["version"] == "v0001"
    assert category["alternatives"][0]["value"] == "Hardware"
    assert category["evidence"] and category["evidence"][0]["short_description"]
    assert fields["assignment_group"]["status"] == "unavailable"
    assert ticket["version"] == 1  # suggestions are part of the INSERT
    # Suggest mode never changes the ticket.
    assert ticket["category"] is None
    again = client.get(f"{API}/incidents/{ticket['number']}", headers=users["agent"].headers).json()
    assert again["suggestions"] == ticket["suggestions"]


def test_requesters_never_see_suggestions(client, users, trained):
    own = _incident(client, users["requester"].headers)
    assert own["suggestions"] is None
    read = client.get(f"{API}/incidents/{own['number']}", headers=users["requester"].headers).json()
    assert read["suggestions"] is None
    listed = client.get(f"{API}/incidents", headers=users["requester"].headers).json()
    assert [item["suggestions"] for item in listed["items"]] == [None]
    staff = client.get(f"{API}/incidents/{own['number']}", headers=users["agent"].headers).json()
    assert staff["suggestions"]["fields"]["category"]["model"] == "category"


def test_ticket_is_created_without_any_model(client, users, models_dir):
    ticket = _incident(client, users["agent"].headers)
    for entry in ticket["suggestions"]["fields"].values():
        assert entry["status"] == "unavailable" and entry["reason"]


def test_ticket_is_created_with_a_corrupt_model(client, users, trained):
    (trained / "category" / "v0001" / store.MODEL_FILE).write_bytes(b"not a pickle")
    ticket = _incident(client, users["agent"].headers)
    category = ticket["suggestions"]["fields"]["category"]
    assert category["status"] == "unavailable" and "corrupt" in category["reason"]


def test_auto_mode_applies_above_threshold_and_audits_the_model(
    client, users, trained, triage_settings, demo_csv
):
    triage_settings(triage_modes={"category": "auto"})
    # Thresholds are per class; pick a text the model is sure about.
    ticket = _confident_incident(client, users["agent"].headers, demo_csv, status="applied")
    category = ticket["suggestions"]["fields"]["category"]
    assert ticket["category"] == category["value"]
    assert category["confidence"] >= category["threshold"]
    trail = client.get(f"{API}/incidents/{ticket['number']}/audit", headers=users["agent"].headers).json()
    by_model = [e for e in trail if e["field"] == "category" and e["source"] == "model"]
    assert by_model and by_model[0]["actor"] == "model:category@v0001"
    assert by_model[0]["new_value"] == category["value"]


def test_auto_mode_abstains_below_threshold(client, users, trained, triage_settings):
    triage_settings(triage_modes={"category": "auto"})
    ticket = _incident(client, users["agent"].headers, "zzzz qqqq")
    category = ticket["suggestions"]["fields"]["category"]
    assert category["status"] == "abstained" and category["reason"]
    assert ticket["category"] is None


def test_accept_applies_the_suggestion_and_records_feedback(client, users, trained, db_session, demo_csv):
    from itsm_ai.classify.models import TriageFeedback

    ticket = _confident_incident(client, users["agent"].headers, demo_csv)
    suggested = ticket["suggestions"]["fields"]["category"]
    r = client.post(
        f"{API}/incidents/{ticket['number']}/suggestions/category/accept",
        json={"version": ticket["version"]},
        headers=users["agent"].headers,
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["category"] == suggested["value"] and body["version"] == ticket["version"] + 1
    feedback = body["suggestions"]["fields"]["category"]["feedback"]
    assert feedback["action"] == "accepted" and feedback["by"] == "agent"
    trail = client.get(f"{API}/incidents/{ticket['number']}/audit", headers=users["agent"].headers).json()
    assert any(e["field"] == "category" and e["actor"] == "agent" for e in trail)
    rows = db_session.query(TriageFeedback).all()
    assert [(r.action, r.final_value, r.model_version) for r in rows] == [
        ("accepted", suggested["value"], "v0001")
    ]


def test_override_sets_the_agents_value(client, users, trained, db_session):
    from itsm_ai.classify.models import TriageFeedback

    ticket = _incident(client, users["agent"].headers)
    url = f"{API}/incidents/{ticket['number']}/suggestions/category/override"
    r = client.post(
        url, json={"value": "Purchase", "version": ticket["version"]}, headers=users["agent"].headers
    )
    assert r.status_code == 200, r.text
    assert r.json()["category"] == "Purchase"
    assert r.json()["suggestions"]["fields"]["category"]["feedback"]["value"] == "Purchase"
    row = db_session.query(TriageFeedback).one()
    assert (row.action, row.final_value, row.username) == ("overridden", "Purchase", "agent")
    # A stale version changes nothing.
    stale = client.post(
        url, json={"value": "Storage", "version": ticket["version"]}, headers=users["agent"].headers
    )
    assert_error(stale, 409, "version")


def test_feedback_input_errors_name_the_field(client, users, trained):
    ticket = _incident(client, users["agent"].headers)
    base = f"{API}/incidents/{ticket['number']}/suggestions"
    h = users["agent"].headers
    assert_error(client.post(f"{base}/category/override", json={"version": 1}, headers=h), 422, "value")
    assert_error(client.post(f"{base}/category/override", json={"value": "x"}, headers=h), 422, "version")
    assert_error(client.post(f"{base}/nope/accept", json={}, headers=h), 422, "field")
    r = client.post(
        f"{base}/assignment_group/override", json={"value": "No Such Group", "version": 1}, headers=h
    )
    assert_error(r, 422, "value")
    # assignment_group has no model: nothing to accept.
    assert_error(client.post(f"{base}/assignment_group/accept", json={}, headers=h), 409, "field")


def test_a_free_text_category_is_refused_and_becomes_no_training_label(client, users, trained, db_session):
    from itsm_ai.classify.models import TriageFeedback

    ticket = _incident(client, users["agent"].headers)
    url = f"{API}/incidents/{ticket['number']}/suggestions/category/override"
    h = users["agent"].headers
    r = client.post(url, json={"value": "Email", "version": ticket["version"]}, headers=h)
    assert_error(r, 422, "value")
    assert db_session.query(TriageFeedback).count() == 0
    after = client.get(f"{API}/incidents/{ticket['number']}", headers=h).json()
    assert after["version"] == ticket["version"] and after["category"] == ticket["category"]
    # A category a stored ticket already carries is known even when the model never learnt it.
    client.post(f"{API}/incidents", json={"short_description": "x", "category": "Email"}, headers=h)
    r = client.post(url, json={"value": "Email", "version": ticket["version"]}, headers=h)
    assert r.status_code == 200, r.text


def test_requesters_and_data_scientists_cannot_give_feedback(client, users, trained):
    ticket = _incident(client, users["requester"].headers)
    for who in ("requester", "data_scientist"):
        r = client.post(
            f"{API}/incidents/{ticket['number']}/suggestions/category/accept",
            json={},
            headers=users[who].headers,
        )
        assert_error(r, 403)


def test_free_text_triage(client, users, trained):
    for who in ("agent", "admin", "data_scientist"):
        r = client.post(f"{API}/triage", json={"text": HARDWARE}, headers=users[who].headers)
        assert r.status_code == 200, r.text
        assert r.json()["fields"]["category"]["alternatives"][0]["value"] == "Hardware"
    r = client.get(
        f"{API}/triage",
        params={"short_description": "monitor broken", "description": "laptop screen"},
        headers=users["agent"].headers,
    )
    assert r.status_code == 200 and r.json()["fields"]["category"]["model"] == "category"
    assert_error(client.post(f"{API}/triage", json={}, headers=users["agent"].headers), 422, "text")
    assert_error(client.get(f"{API}/triage", headers=users["agent"].headers), 422, "text")
    assert_error(client.post(f"{API}/triage", json={"text": "x"}, headers=users["requester"].headers), 403)


def test_requesters_and_agents_cannot_use_the_models_api(client, users, trained):
    for who in ("requester", "agent"):
        assert_error(client.get(f"{API}/models", headers=users[who].headers), 403)
        r = client.post(f"{API}/models/category/rollback", headers=users[who].headers)
        assert_error(r, 403)


def test_models_api_lists_promotes_and_rolls_back(client, users, trained):
    h = users["data_scientist"].headers
    listed = client.get(f"{API}/models", headers=h).json()["items"]
    assert [(m["name"], m["current"]) for m in listed] == [("category", "v0001")]
    meta = client.get(f"{API}/models/category/versions/v0001", headers=h).json()
    assert meta["current"] is True and meta["evaluation"]["n"] == 80
    loaded = suggestions.CACHE.get("category", folder=trained)
    v2 = store.save(loaded.model, name="category", models_dir=trained, metadata={"target": "category"})
    r = client.post(f"{API}/models/category/promote", json={"version": v2}, headers=h)
    assert r.status_code == 200 and r.json()["current"] == v2
    ticket = _incident(client, users["agent"].headers)
    assert ticket["suggestions"]["fields"]["category"]["version"] == v2  # served without restart
    r = client.post(f"{API}/models/category/rollback", headers=h)
    assert r.status_code == 200 and r.json()["current"] == "v0001"
    assert (
        _incident(client, users["agent"].headers)["suggestions"]["fields"]["category"]["version"] == "v0001"
    )
    assert_error(client.post(f"{API}/models/category/rollback", headers=h), 409)
    assert_error(client.post(f"{API}/models/category/promote", json={"version": "v0099"}, headers=h), 404)
    assert_error(
        client.post(f"{API}/models/category/promote", json={"version": "1"}, headers=h), 422, "version"
    )
    assert_error(client.post(f"{API}/models/category/promote", json={}, headers=h), 422, "version")
    assert_error(client.get(f"{API}/models/nothing/versions/v0001", headers=h), 404)


def test_challenger_runs_in_shadow_and_is_compared(client, users, trained):
    h = users["data_scientist"].headers
    loaded = suggestions.CACHE.get("category", folder=trained)
    v2 = store.save(loaded.model, name="category", models_dir=trained)
    r = client.put(f"{API}/models/category/challenger", json={"version": v2}, headers=h)
    assert r.status_code == 200 and r.json()["challenger"] == v2
    agent = users["agent"].headers
    ticket = _incident(client, agent)
    shadow = ticket["suggestions"]["shadow"]["category"]
    assert shadow["version"] == v2 and shadow["model"] == "category"
    url = f"{API}/incidents/{ticket['number']}/suggestions/category/override"
    client.post(url, json={"value": "Hardware", "version": ticket["version"]}, headers=agent)
    report = client.get(f"{API}/models/category/shadow-report", headers=h).json()
    assert report["challenger_version"] == v2 and report["current_version"] == "v0001"
    assert report["champion"]["tickets"] == 1 and report["challenger"]["tickets"] == 1
    assert report["champion"]["versions"] == {"v0001": 1}
    # The same model on both sides: the same live numbers.
    assert report["champion"]["precision"] == report["challenger"]["precision"]
    r = client.put(f"{API}/models/category/challenger", json={"version": None}, headers=h)
    assert r.json()["challenger"] is None
    assert "shadow" not in _incident(client, agent)["suggestions"]


def test_shadow_report_needs_an_existing_model(client, users, trained):
    h = users["data_scientist"].headers
    r = client.get(f"{API}/models/category/shadow-report", headers=h)
    assert r.status_code == 200 and r.json()["challenger_version"] is None
    assert r.json()["champion"]["tickets"] == 0 and r.json()["champion"]["precision"] is None
    err = assert_error(client.get(f"{API}/models/nothing/shadow-report", headers=h), 404)
    assert err["message"] == "model nothing not found"
    assert_error(client.get(f"{API}/models/-bad/shadow-report", headers=h), 422, "name")
    assert_error(client.get(f"{API}/models/category/shadow-report", headers=users["agent"].headers), 403)


def test_priority_feedback_goes_through_impact_and_urgency(client, users, trained):
    ticket = _incident(client, users["agent"].headers)
    assert ticket["priority"] == 4 and ticket["suggestions"]["fields"]["priority"]["status"] == "unavailable"
    url = f"{API}/incidents/{ticket['number']}/suggestions/priority/override"
    r = client.post(url, json={"value": 2, "version": ticket["version"]}, headers=users["agent"].headers)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["priority"] == 2 and (body["impact"], body["urgency"]) != (3, 3)
    assert body["suggestions"]["fields"]["priority"]["feedback"]["value"] == 2
    r = client.post(url, json={"value": 9, "version": body["version"]}, headers=users["agent"].headers)
    assert_error(r, 422, "value")


def test_accept_without_a_body_uses_the_current_version(client, users, trained, demo_csv):
    ticket = _confident_incident(client, users["agent"].headers, demo_csv)
    url = f"{API}/incidents/{ticket['number']}/suggestions/category/accept"
    r = client.post(url, headers=users["admin"].headers)
    assert r.status_code == 200, r.text
    assert r.json()["suggestions"]["fields"]["category"]["feedback"]["by"] == "admin"


def test_auto_mode_routes_to_an_existing_group(client, users, models_dir, triage_settings):
    from itsm_ai.demo.triage_models import demo_training_data

    data = demo_training_data("assignment_group")
    train_model(data, target="assignment_group", features="tfidf", holdout=0.0, promote=True)
    triage_settings(triage_modes={"assignment_group": "auto"})
    for name in sorted(set(data.labels)):
        client.post(f"{API}/groups", json={"name": name}, headers=users["admin"].headers)
    applied = None
    for text in data.texts[:60]:  # training tickets: the model is sure about some of them
        ticket = _incident(client, users["agent"].headers, text[:250])
        entry = ticket["suggestions"]["fields"]["assignment_group"]
        if entry["status"] == "applied":
            applied = ticket
            break
    assert applied is not None
    assert applied["assignment_group"] == applied["suggestions"]["fields"]["assignment_group"]["value"]
    trail = client.get(f"{API}/incidents/{applied['number']}/audit", headers=users["agent"].headers).json()
    assert [e["actor"] for e in trail if e["source"] == "model"] == ["model:assignment_group@v0001"]


def _rule(client, headers, name: str, conditions: dict, body: str) -> None:
    rule = {"name": name, "record_type": "incident", "trigger": "created", "conditions": conditions}
    rule["actions"] = [{"type": "add_comment", "body": body}]
    r = client.post(f"{API}/rules", json=rule, headers=headers)
    assert r.status_code == 201, r.text


def test_rules_see_the_suggestions_of_a_created_ticket(client, users, trained, demo_csv):
    """Rules read suggestions where they are stored: `suggestions.fields.<field>.<key>`."""
    admin, agent = users["admin"].headers, users["agent"].headers
    first = _confident_incident(client, agent, demo_csv)
    text, confidence = first["short_description"], first["suggestions"]["fields"]["category"]["confidence"]
    status = {"field": "suggestions.fields.category.status", "op": "eq", "value": "suggested"}
    sure = {"field": "suggestions.fields.category.confidence", "op": "gte", "value": confidence}
    template = "triage: {suggestions.fields.category.value} ({suggestions.fields.category.confidence})"
    _rule(client, admin, "sure", {"all": [status, sure]}, template)
    _rule(client, admin, "surer", {**sure, "op": "gt"}, "above the suggestion's confidence")
    # Without `fields` the path reads as missing: a rule written against it never fires.
    _rule(client, admin, "no fields", {**sure, "field": "suggestions.category.confidence", "value": 0}, "x")
    ticket = _incident(client, agent, text)
    entry = ticket["suggestions"]["fields"]["category"]
    assert entry["confidence"] == confidence  # the same text and model: the same confidence
    assert entry["value"] is not None
    assert entry["value"] == first["suggestions"]["fields"]["category"]["value"]
    comments = client.get(f"{API}/incidents/{ticket['number']}/comments", headers=agent).json()
    assert [c["body"] for c in comments] == [f"triage: {entry['value']} ({confidence})"]
