"""Rules over the API: who may do what, validation errors naming the exact path, versions, enable/disable."""

from __future__ import annotations

import pytest

from tests.api.conftest import assert_error

ASSIGN = [{"type": "assign_group", "group": "Network"}]


@pytest.fixture
def network(api):
    return api.group("Network")


def test_admin_creates_staff_read_others_are_refused(api, network):
    rule = api.rule(
        name="Route VPN", conditions={"field": "category", "op": "eq", "value": "network"}, actions=ASSIGN
    )
    assert rule["enabled"] is True and rule["order"] == 100 and rule["stop_processing"] is False
    assert rule["actions"] == [{"type": "assign_group", "group": "Network", "keep_assignee": False}]
    assert api.get(f"rules/{rule['id']}", as_="agent")["name"] == "Route VPN"
    assert [r["id"] for r in api.get("rules", as_="agent")] == [rule["id"]]
    body = {"name": "x", "record_type": "incident", "trigger": "created", "actions": ASSIGN}
    for role, code in (("agent", 403), ("data_scientist", 403), ("requester", 403)):
        assert_error(api.client.post("/api/v1/rules", json=body, headers=api.users[role].headers), code)
    for role in ("data_scientist", "requester"):
        assert_error(api.client.get("/api/v1/rules", headers=api.users[role].headers), 403)
    assert_error(api.client.get("/api/v1/rules"), 401)


def test_created_disabled_until_reviewed_then_enabled(api, network):
    rule = api.rule(actions=ASSIGN, enabled=False)
    assert rule["enabled"] is False
    assert api.incident()["assignment_group"] is None
    assert api.call("POST", f"rules/{rule['id']}/enable")["enabled"] is True
    assert api.incident()["assignment_group"] == "Network"
    assert api.call("POST", f"rules/{rule['id']}/disable")["enabled"] is False
    assert api.get("rules", params={"enabled": "false"})[0]["id"] == rule["id"]


BAD_BODIES = [
    ({"actions": [*ASSIGN, {"type": "notify_webhook", "url": "ftp://x"}]}, "actions[1].url"),
    ({"actions": [{"type": "explode"}]}, "actions[0].type"),
    ({"actions": [{"type": "set_field", "field": "colour", "value": 1}]}, "actions[0].field"),
    ({"actions": [{"type": "set_field", "field": "impact", "value": 9}]}, "actions[0].value"),
    ({"actions": [{"type": "assign_group", "group": "Nobody"}]}, "actions[0].group"),
    ({"actions": [{"type": "assign_user", "user": "ghost"}]}, "actions[0].user"),
    ({"actions": []}, "actions"),
    ({"conditions": {"all": [{"field": "priority", "op": "bigger", "value": 1}]}}, "conditions.all[0].op"),
    ({"trigger": "scheduled"}, "schedule"),
    ({"trigger": "scheduled", "schedule": {"every_minutes": 0}}, "schedule.every_minutes"),
    ({"trigger": "scheduled", "schedule": {"after_minutes": 5, "since": "x"}}, "schedule.since"),
    ({"schedule": {"every_minutes": 5}}, "schedule"),
    ({"record_type": "asset"}, "record_type"),
    (
        {
            "record_type": "problem",
            "actions": [{"type": "create_linked_problem", "short_description_template": "x"}],
        },
        "actions[0].type",
    ),
]


def test_validation_errors_name_the_exact_path(api, network):
    for changes, path in BAD_BODIES:
        body = {"name": "bad", "record_type": "incident", "trigger": "created", "actions": ASSIGN, **changes}
        assert_error(
            api.client.post("/api/v1/rules", json=body, headers=api.users["admin"].headers), 422, path
        )
    assert api.get("rules") == []


def test_update_is_versioned_validated_and_audited(api, network):
    rule = api.rule(actions=ASSIGN)
    path = f"rules/{rule['id']}"
    changed = api.patch(path, {"order": 5, "stop_processing": True})
    assert (changed["order"], changed["stop_processing"], changed["version"]) == (5, True, 2)
    stale = api.client.patch(
        f"/api/v1/{path}", json={"version": 1, "order": 7}, headers=api.users["admin"].headers
    )
    assert_error(stale, 409, "version")
    bad = {"version": 2, "actions": [{"type": "notify_webhook", "url": "nope"}]}
    assert_error(
        api.client.patch(f"/api/v1/{path}", json=bad, headers=api.users["admin"].headers),
        422,
        "actions[0].url",
    )
    assert api.get(path)["order"] == 5
    api.rule(name="taken", actions=ASSIGN)
    clash = api.client.patch(
        f"/api/v1/{path}", json={"version": 2, "name": "taken"}, headers=api.users["admin"].headers
    )
    assert_error(clash, 409, "name")
    api.call("DELETE", path, expect=204)
    assert_error(api.client.get(f"/api/v1/{path}", headers=api.users["admin"].headers), 404)
