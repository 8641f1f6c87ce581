"""SLA calendars and policies over the API: CRUD, versions, access, validation errors naming the field."""

from __future__ import annotations

from tests.api.conftest import API, assert_error

WEEKDAYS = {d: ["09:00-17:00"] for d in ("mon", "tue", "wed", "thu", "fri")}


def test_admin_manages_calendars_and_policies(make, client, users):
    cal = make.calendar("London office", timezone="Europe/London", hours=WEEKDAYS, country="GB", subdiv="ENG")
    assert cal["hours"]["mon"] == ["09:00-17:00"] and "sat" not in cal["hours"]
    assert make.get("sla/calendars/London office")["id"] == cal["id"]

    p1 = make.policy(
        "P1", order=10, condition={"field": "priority", "op": "eq", "value": 1}, calendar=cal["name"]
    )
    fallback = make.policy("Standard", order=50)
    assert p1["calendar"] == "London office" and p1["paused_states"] == ["on_hold"]
    assert [p["name"] for p in make.get("sla/policies")] == ["P1", "Standard"]

    # Reorder: the fallback first in the list; a stale version is refused and changes nothing.
    moved = make.patch(f"sla/policies/{fallback['id']}", {"order": 1}, as_="admin")
    assert moved["version"] == fallback["version"] + 1
    assert [p["name"] for p in make.get("sla/policies")] == ["Standard", "P1"]
    stale = client.patch(
        f"{API}/sla/policies/{fallback['id']}",
        json={"version": fallback["version"], "order": 99},
        headers=users["admin"].headers,
    )
    assert_error(stale, 409, "version")
    assert make.get("sla/policies/Standard")["order"] == 1

    # A calendar in use cannot go; once its policy is gone it can.
    assert_error(client.delete(f"{API}/sla/calendars/{cal['id']}", headers=users["admin"].headers), 409)
    patched = make.patch(f"sla/calendars/{cal['id']}", {"extra_holidays": ["2025-12-24"]}, as_="admin")
    assert patched["extra_holidays"] == ["2025-12-24"] and patched["country"] == "GB"
    assert client.delete(f"{API}/sla/policies/P1", headers=users["admin"].headers).status_code == 204
    assert (
        client.delete(f"{API}/sla/calendars/{cal['id']}", headers=users["admin"].headers).status_code == 204
    )
    assert [p["name"] for p in make.get("sla/policies")] == ["Standard"]


def test_staff_read_admins_write(make, client, users):
    make.policy("Standard")
    for role, status in (("admin", 200), ("agent", 200), ("data_scientist", 403), ("requester", 403)):
        for path in ("sla/policies", "sla/calendars", "sla/defaults", "sla/policies/Standard"):
            assert client.get(f"{API}/{path}", headers=users[role].headers).status_code == status, (
                role,
                path,
            )
    assert client.get(f"{API}/sla/policies").status_code == 401
    body = {"name": "Other", "response_target": 10, "resolution_target": 20}
    assert_error(client.post(f"{API}/sla/policies", json=body, headers=users["agent"].headers), 403)
    assert_error(client.delete(f"{API}/sla/policies/Standard", headers=users["agent"].headers), 403)
    assert_error(client.post(f"{API}/sla/calendars", json={"name": "x"}, headers=users["agent"].headers), 403)


def test_builtin_defaults_are_listed(make):
    defaults = make.get("sla/defaults")
    assert [(p["name"], p["response_target"], p["resolution_target"]) for p in defaults] == [
        ("Default P1", 15, 240),
        ("Default P2", 60, 480),
        ("Default P3", 240, 4320),
        ("Default P4", 480, 7200),
    ]
    assert all(p["id"] is None and p["calendar"] is None for p in defaults)


BAD_POLICIES = [
    ({"condition": {"all": [{"field": "priority", "op": "bigger", "value": 1}]}}, "condition.all[0].op"),
    ({"condition": {"field": "priority", "op": "in", "value": 1}}, "condition.value"),
    ({"resolution_target": 0}, "resolution_target"),
    ({"response_target": "soon"}, "response_target"),
    ({"warning_percent": 150}, "warning_percent"),
    ({"paused_states": ["on_hold", "waiting"]}, "paused_states[1]"),
    ({"paused_states": ["resolved"]}, "paused_states"),
    ({"calendar": "Nowhere"}, "calendar"),
    ({"breach_actions": [{"type": "notify_webhook", "url": "https://x.test"}]}, "breach_actions[0].type"),
    ({"breach_actions": [{"type": "assign_group"}]}, "breach_actions[0].group"),
    ({"warning_actions": [{"type": "set_field", "field": "colour", "value": 1}]}, "warning_actions[0].field"),
    (
        {"warning_actions": [{"type": "set_field", "field": "priority", "value": 9}]},
        "warning_actions[0].value",
    ),
    (
        {"warning_actions": [{"type": "set_field", "field": "state", "value": "closed"}]},
        "warning_actions[0].field",
    ),
    ({"unknown": 1}, "unknown"),
]


def test_policy_validation_names_the_field(make, client, users):
    # One test for the whole table: each case is a cheap request, the per-test database set-up is not.
    for fields, field in BAD_POLICIES:
        body = {"name": "Bad", "response_target": 30, "resolution_target": 240, **fields}
        r = client.post(f"{API}/sla/policies", json=body, headers=users["admin"].headers)
        assert_error(r, 422, field)
    assert make.get("sla/policies") == []


def test_policy_update_validation_keeps_the_stored_policy(make, client, users):
    good = make.policy("Standard", order=5)
    bad = {"version": good["version"], "condition": {"any": []}, "order": 7}
    r = client.patch(f"{API}/sla/policies/Standard", json=bad, headers=users["admin"].headers)
    assert_error(r, 422, "condition.any")
    assert make.get("sla/policies/Standard")["order"] == 5
    dup = make.policy("Other")
    r = client.patch(
        f"{API}/sla/policies/{dup['id']}",
        json={"version": dup["version"], "name": "Standard"},
        headers=users["admin"].headers,
    )
    assert_error(r, 409, "name")


BAD_CALENDARS = [
    ({"timezone": "Mars/Olympus"}, "timezone"),
    ({"hours": {"mon": ["18:00-08:00"]}}, "hours.mon"),
    ({"hours": {"funday": ["09:00-17:00"]}}, "hours.funday"),
    ({"hours": {"mon": []}}, "hours"),
    ({"country": "XX"}, "country"),
    ({"country": "GB", "subdiv": "ZZZ"}, "subdiv"),
    ({"extra_holidays": ["not a date"]}, "extra_holidays.0"),
]


def test_calendar_validation_names_the_field(make, client, users):
    for fields, field in BAD_CALENDARS:
        body = {"name": "Bad", **fields}
        r = client.post(f"{API}/sla/calendars", json=body, headers=users["admin"].headers)
        assert_error(r, 422, field)
    assert make.get("sla/calendars") == []


def test_duplicate_names_conflict(make, client, users):
    make.calendar("Office")
    make.policy("Standard")
    r = client.post(f"{API}/sla/calendars", json={"name": "Office"}, headers=users["admin"].headers)
    assert_error(r, 409, "name")
    body = {"name": "Standard", "response_target": 1, "resolution_target": 2}
    assert_error(client.post(f"{API}/sla/policies", json=body, headers=users["admin"].headers), 409, "name")
