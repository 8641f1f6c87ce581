"""The audit trail: every create and every field change records who, when, and old -> new."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from tests.api.conftest import API, store_events


def _now() -> datetime:
    return datetime.now(UTC)


def _at(event) -> datetime:
    return datetime.fromisoformat(event["at"].replace("Z", "+00:00"))


def _audit(client, users, path, ref, as_="agent"):
    r = client.get(f"{API}/{path}/{ref}/audit", headers=users[as_].headers)
    assert r.status_code == 200, r.text
    return store_events(r.json())


def test_create_event_records_actor_time_and_initial_values(client, users, make):
    make.group("Desk")
    make.asset("mail-01")
    start = _now()
    inc = make.incident(
        as_="agent2",
        short_description="Mail down",
        impact=1,
        urgency=2,
        assignment_group="Desk",
        caller="requester",
        configuration_items=["mail-01"],
    )
    end = _now()
    events = _audit(client, users, "incidents", inc["id"])
    assert len(events) == 1
    create = events[0]
    assert (
        create["action"],
        create["actor"],
        create["source"],
        create["record_type"],
        create["record_id"],
    ) == (
        "create",
        "agent2",
        "api",
        "incident",
        inc["id"],
    )
    assert start <= _at(create) <= end
    values = json.loads(create["new_value"])
    assert values["number"] == "INC0000001"
    assert values["short_description"] == "Mail down"
    assert (values["impact"], values["urgency"], values["priority"]) == ("1", "2", "2")
    assert (values["assignment_group"], values["caller"], values["state"]) == ("Desk", "requester", "new")
    assert values["configuration_items"] == '["mail-01"]'
    assert None not in values.values()


def test_each_changed_field_gets_one_event_with_old_and_new(client, users, make):
    make.group("Desk")
    make.group("Network")
    inc = make.incident(assignment_group="Desk", category="email", description="first")
    start = _now()
    make.patch(
        f"incidents/{inc['id']}",
        {
            "assignment_group": "Network",
            "category": "network",
            "description": None,
            "location": "Leeds",
            "short_description": inc["short_description"],  # unchanged: no event
        },
        as_="agent2",
    )
    end = _now()
    updates = [e for e in _audit(client, users, "incidents", inc["id"]) if e["action"] == "update"]
    assert sorted((e["field"], e["old_value"], e["new_value"]) for e in updates) == [
        ("assignment_group", "Desk", "Network"),
        ("category", "email", "network"),
        ("description", "first", None),
        ("location", None, "Leeds"),
        ("reassignment_count", "0", "1"),
    ]
    assert {e["actor"] for e in updates} == {"agent2"}
    assert all(start <= _at(e) <= end for e in updates)
    assert len({e["at"] for e in updates}) == 1  # one change, one moment


def test_noop_patch_writes_nothing_and_keeps_the_version(client, users, make):
    inc = make.incident(urgency=2)
    same = make.patch(f"incidents/{inc['id']}", {"urgency": 2})
    assert same["version"] == inc["version"]
    assert [e["action"] for e in _audit(client, users, "incidents", inc["id"])] == ["create"]


def test_state_changes_and_derived_fields_are_audited(client, users, make):
    inc = make.incident()
    make.patch(
        f"incidents/{inc['id']}",
        {"state": "resolved", "resolution_code": "solved", "resolution_notes": "Rebooted"},
    )
    updates = {
        e["field"]: e for e in _audit(client, users, "incidents", inc["id"]) if e["action"] == "update"
    }
    assert (updates["state"]["old_value"], updates["state"]["new_value"]) == ("new", "resolved")
    assert updates["resolved_at"]["old_value"] is None and updates["resolved_at"]["new_value"]
    assert updates["resolution_code"]["new_value"] == "solved"


@pytest.mark.parametrize(
    ("path", "body", "change"),
    [
        ("problems", {"short_description": "p"}, ("workaround", "restart")),
        ("changes", {"short_description": "c"}, ("backout_plan", "roll back")),
        ("requests", {"short_description": "r"}, ("quantity", 4)),
        ("knowledge", {"short_description": "k"}, ("category", "howto")),
        ("assets", {"name": "srv"}, ("location", "DC1")),
        ("catalog-items", {"name": "Phone"}, ("price", "99.50")),
    ],
)
def test_every_record_type_is_audited(client, users, make, path, body, change):
    created = make.post(path, body, as_="admin")
    field, value = change
    make.patch(f"{path}/{created['id']}", {field: value}, as_="admin")
    events = _audit(client, users, path, created["id"])
    assert [e["action"] for e in events] == ["create", "update"]
    assert (events[1]["field"], events[1]["new_value"], events[1]["actor"]) == (field, str(value), "admin")


def test_requester_sees_own_ticket_history_without_work_notes(client, users, make):
    inc = make.incident(caller="requester")
    client.post(
        f"{API}/incidents/{inc['id']}/comments",
        json={"body": "internal only", "visibility": "internal"},
        headers=users["agent"].headers,
    )
    make.patch(f"incidents/{inc['id']}", {"urgency": 1})
    events = _audit(client, users, "incidents", inc["id"], as_="requester")
    assert [(e["action"], e["field"]) for e in events] == [
        ("create", None),
        ("update", "urgency"),
        ("update", "priority"),
    ]
