"""Prediction endpoints and the engine listener: access, bad input, concurrency, rules and volume alerts."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from itsm_ai import database
from itsm_ai.predictions.models import TicketPrediction, VolumeAlert
from tests.api.conftest import API, assert_error


def _prediction(client, users, number, as_="agent"):
    return client.get(f"{API}/predictions/incidents/{number}", headers=users[as_].headers)


def test_without_models_tickets_get_no_prediction_and_writes_work(make, client, users, models_dir):
    inc = make.incident(category="network")
    body = _prediction(client, users, inc["number"]).json()
    assert body["breach_risk"] is None and body["ttr_hours"] is None and body["reasons"] == []
    assert (inc.get("suggestions") or {}).get("predictions") is None


def test_breach_risk_and_time_to_resolve_on_create_and_on_the_ticket(make, client, users, trained):
    group = make.group("Network")
    risky = make.incident(category="network", assignment_group=group["name"], impact=1, urgency=2)
    body = _prediction(client, users, risky["number"]).json()
    assert 0.0 <= body["breach_risk"] <= 1.0
    assert body["ttr_low_hours"] <= body["ttr_hours"] <= body["ttr_high_hours"]
    assert body["breach_version"] == "v0001" and body["ttr_version"] == "v0001"
    assert all({"feature", "label", "value", "effect"} <= set(r) for r in body["reasons"])
    ticket = make.get(f"incidents/{risky['number']}")
    mirrored = ticket["suggestions"]["predictions"]
    assert mirrored["breach_risk"] == body["breach_risk"] and mirrored["ttr_hours"] == body["ttr_hours"]
    assert ticket["version"] == 1  # the prediction is no edit of the ticket
    calm = make.incident(category="software")
    assert body["breach_risk"] > _prediction(client, users, calm["number"]).json()["breach_risk"]


def test_predictions_follow_the_ticket_and_leave_when_it_resolves(make, client, users, trained):
    group = make.group("Network")
    inc = make.incident(category="network")
    before = _prediction(client, users, inc["number"]).json()
    make.patch(f"incidents/{inc['number']}", {"assignment_group": group["name"]})
    after = _prediction(client, users, inc["number"]).json()
    assert after["computed_at"] >= before["computed_at"]
    make.patch(
        f"incidents/{inc['number']}",
        {"state": "resolved", "resolution_code": "fixed", "resolution_notes": "rebooted"},
    )
    assert _prediction(client, users, inc["number"]).json()["breach_risk"] is None
    with database.get_session() as s:
        assert s.get(TicketPrediction, ("incident", inc["id"])) is None


def test_at_risk_lists_open_incidents_riskiest_first(make, client, users, trained):
    group = make.group("Network")
    for _ in range(3):
        make.incident(category="network", assignment_group=group["name"])
    make.incident(category="software")
    items = make.get("predictions/at-risk", params={"threshold": 0.0})["items"]
    risks = [i["breach_risk"] for i in items]
    assert len(items) == 4 and risks == sorted(risks, reverse=True)
    high = make.get("predictions/at-risk", params={"threshold": risks[0]})["items"]
    assert {i["number"] for i in high} <= {i["number"] for i in items}


def test_a_rule_escalates_on_breach_risk(make, client, users, trained):
    make.group("Network")
    rule = {
        "name": "Escalate likely breaches",
        "record_type": "incident",
        "trigger": "created",
        "conditions": {"field": "breach_risk", "op": "gte", "value": 0.0},
        "actions": [{"type": "add_comment", "body": "Likely to breach: {number}"}],
    }
    make.post("rules", rule, as_="admin")
    inc = make.incident(category="network")
    comments = make.get(f"incidents/{inc['number']}/comments")
    items = comments["items"] if isinstance(comments, dict) else comments
    assert any("Likely to breach" in c["body"] for c in items)


def test_a_burst_of_similar_tickets_raises_one_alert_linking_them(make, client, users, trained):
    rule = {
        "name": "Burst watch",
        "record_type": "incident",
        "trigger": "created",
        "conditions": {"field": "volume_alert", "op": "is_not_empty"},
        "actions": [{"type": "add_comment", "body": "Part of a burst: {number}"}],
    }
    make.post("rules", rule, as_="admin")
    numbers = [make.incident(category="network")["number"] for _ in range(7)]
    alerts = make.get("predictions/alerts")["items"]
    assert len(alerts) == 1
    alert = alerts[0]
    assert (alert["dimension"], alert["key"], alert["status"]) == ("category", "network", "open")
    linked = [t["number"] for t in alert["tickets"]]
    assert linked == numbers[: len(linked)] and len(linked) >= 5 and numbers[-1] in linked
    assert alert["observed"] == len(linked) and alert["expected"] < 1
    last = make.get(f"incidents/{numbers[-1]}")
    assert last["suggestions"]["predictions"]["volume_alert"] == alert["id"]
    assert make.get(f"predictions/alerts/{alert['id']}")["id"] == alert["id"]
    # The rule fired on the tickets that completed the burst, not on the first, ordinary one.
    commented = []
    for number in numbers:
        comments = make.get(f"incidents/{number}/comments")
        items = comments["items"] if isinstance(comments, dict) else comments
        commented.append(any("Part of a burst" in c["body"] for c in items))
    assert not commented[0] and commented[-1]


def _alert(make) -> dict:
    for _ in range(6):
        make.incident(category="network")
    return make.get("predictions/alerts")["items"][0]


def test_access(make, client, users, trained):
    inc = make.incident(category="network")
    alert = _alert(make)
    for who in ("requester", "requester2"):
        assert_error(_prediction(client, users, inc["number"], as_=who), 403)
        assert_error(client.get(f"{API}/predictions/at-risk", headers=users[who].headers), 403)
        assert_error(client.get(f"{API}/predictions/alerts", headers=users[who].headers), 403)
    assert _prediction(client, users, inc["number"], as_="data_scientist").status_code == 200
    refresh = f"{API}/predictions/incidents/{inc['number']}/refresh"
    assert_error(client.post(refresh, headers=users["data_scientist"].headers), 403)
    patch = {"status": "acknowledged", "version": alert["version"]}
    assert_error(
        client.patch(
            f"{API}/predictions/alerts/{alert['id']}", json=patch, headers=users["data_scientist"].headers
        ),
        403,
    )
    assert_error(client.get(f"{API}/predictions/at-risk"), 401)


def test_bad_input_names_the_field_and_keeps_data(make, client, users, trained):
    inc = make.incident(category="network")
    alert = _alert(make)
    h = users["agent"].headers
    assert_error(
        client.get(f"{API}/predictions/at-risk", params={"threshold": 2}, headers=h), 422, "threshold"
    )
    assert_error(client.get(f"{API}/predictions/at-risk", params={"limit": 0}, headers=h), 422, "limit")
    assert_error(client.get(f"{API}/predictions/alerts", params={"status": "gone"}, headers=h), 422, "status")
    assert_error(client.get(f"{API}/predictions/incidents/INC%27%3B", headers=h), 422, "number")
    assert_error(client.get(f"{API}/predictions/incidents/INC9999999", headers=h), 404)
    assert_error(client.get(f"{API}/predictions/alerts/0", headers=h), 422, "alert_id")
    assert_error(client.get(f"{API}/predictions/alerts/999", headers=h), 404)
    url = f"{API}/predictions/alerts/{alert['id']}"
    assert_error(
        client.patch(url, json={"status": "open", "version": alert["version"]}, headers=h), 422, "status"
    )
    assert_error(client.patch(url, json={"status": "closed"}, headers=h), 422, "version")
    assert_error(client.patch(url, json={"status": "closed", "version": "x"}, headers=h), 422, "version")
    assert_error(
        client.patch(url, json={"status": "closed", "version": alert["version"] + 5}, headers=h), 409
    )
    assert make.get(f"predictions/alerts/{alert['id']}") == alert
    assert _prediction(client, users, inc["number"]).json()["breach_risk"] is not None


def test_parallel_refreshes_and_acknowledgements(make, client, users, trained):
    inc = make.incident(category="network")
    url = f"{API}/predictions/incidents/{inc['number']}/refresh"
    with ThreadPoolExecutor(6) as pool:
        answers = list(pool.map(lambda _: client.post(url, headers=users["agent"].headers), range(12)))
    assert [r.status_code for r in answers] == [200] * 12
    with database.get_session() as s:
        assert s.query(TicketPrediction).filter_by(record_id=inc["id"]).count() == 1
    alert = _alert(make)
    patch_url = f"{API}/predictions/alerts/{alert['id']}"
    body = {"status": "acknowledged", "version": alert["version"]}
    with ThreadPoolExecutor(6) as pool:
        codes = sorted(
            r.status_code
            for r in pool.map(
                lambda _: client.patch(patch_url, json=body, headers=users["agent"].headers), range(6)
            )
        )
    assert codes[0] == 200 and set(codes) <= {200, 409} and codes.count(200) == 1
    with database.get_session() as s:
        stored = s.get(VolumeAlert, alert["id"])
        assert (stored.status, stored.version) == ("acknowledged", alert["version"] + 1)
    # Parallel creates of burst tickets lose none: every new one is linked to the one open alert.
    with ThreadPoolExecutor(4) as pool:
        made = list(pool.map(lambda _: make.incident(category="network")["number"], range(4)))
    linked = {t["number"] for a in make.get("predictions/alerts")["items"] for t in a["tickets"]}
    assert set(made) <= linked
