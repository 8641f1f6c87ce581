"""Dry runs show what a rule would do to the newest tickets and change nothing at all."""

from __future__ import annotations

from sqlalchemy import func, select

from itsm_ai import database
from itsm_ai.audit.models import AuditEvent
from itsm_ai.comment.models import Comment
from itsm_ai.webhooks.models import OutboxEvent, WebhookDelivery
from tests.api.conftest import assert_error

RULE = {
    "name": "Route VPN",
    "record_type": "incident",
    "trigger": "created",
    "conditions": {"field": "short_description", "op": "icontains", "value": "vpn"},
    "actions": [
        {"type": "assign_group", "group": "Network"},
        {"type": "add_comment", "body": "Routed {number}"},
        {"type": "notify_webhook", "url": "http://127.0.0.1:9/x"},
    ],
}


def snapshot(api) -> dict:
    with database.get_session() as s:
        counts = {
            m.__name__: s.scalar(select(func.count()).select_from(m))
            for m in (AuditEvent, Comment, OutboxEvent, WebhookDelivery)
        }
    tickets = api.get("incidents", params={"limit": 100})["items"]
    return {
        "counts": counts,
        "versions": {t["number"]: (t["version"], t["assignment_group"]) for t in tickets},
    }


def test_dry_run_of_a_rule_body_plans_on_the_last_n_and_applies_nothing(api):
    api.group("Network")
    old_vpn = api.incident(short_description="VPN slow")
    printer = api.incident(short_description="Printer jam")
    vpn = api.incident(short_description="vpn drops")
    before = snapshot(api)
    result = api.post("rules/dry-run", {"rule": RULE, "last": 2}, expect=200)
    assert snapshot(api) == before
    assert (result["evaluated"], result["matched"]) == (2, 1)
    assert [t["number"] for t in result["tickets"]] == [vpn["number"], printer["number"]]
    first = result["tickets"][0]
    assert [e["kind"] for e in first["effects"]] == ["field_change", "comment", "webhook"]
    assert first["effects"][0]["detail"] == {"field": "assignment_group", "old": None, "new": "Network"}
    assert first["effects"][1]["description"].endswith(f"'Routed {vpn['number']}'")
    assert result["tickets"][1] == {
        "id": printer["id"],
        "number": printer["number"],
        "matched": False,
        "effects": [],
    }
    assert old_vpn["number"] not in {t["number"] for t in result["tickets"]}
    assert api.get("rules") == []


def test_dry_run_of_a_stored_rule_uses_each_tickets_last_update(api):
    rule = api.rule(
        trigger="state_changed",
        enabled=False,
        conditions={"field": "state", "op": "changed_to", "value": "in_progress"},
        actions=[{"type": "set_field", "field": "urgency", "value": 1}],
    )
    started, described, untouched = api.incident(), api.incident(), api.incident()
    api.patch(f"incidents/{started['id']}", {"state": "in_progress"}, as_="agent")
    api.patch(f"incidents/{described['id']}", {"description": "more"}, as_="agent")
    before = snapshot(api)
    result = api.post(f"rules/{rule['id']}/dry-run", {"last": 10}, as_="agent", expect=200)
    assert snapshot(api) == before
    matched = {t["number"]: t["matched"] for t in result["tickets"]}
    assert matched == {started["number"]: True, described["number"]: False, untouched["number"]: False}


def test_dry_run_validation_and_access(api):
    bad = {**RULE, "actions": [{"type": "notify_webhook", "url": "nope"}]}
    r = api.client.post("/api/v1/rules/dry-run", json={"rule": bad}, headers=api.users["admin"].headers)
    assert_error(r, 422, "rule.actions[0].url")
    r = api.client.post(
        "/api/v1/rules/dry-run", json={"rule": RULE, "last": 0}, headers=api.users["admin"].headers
    )
    assert_error(r, 422)
    r = api.client.post("/api/v1/rules/dry-run", json={"rule": RULE}, headers=api.users["agent"].headers)
    assert_error(r, 403)
