"""Ticket behaviour the store derives: priority from impact x urgency, state timestamps, reopen and
reassignment counts, links between records, service requests for catalog items."""

from __future__ import annotations

from datetime import datetime

import pytest

from tests.api.conftest import API, assert_error

# impact, urgency -> priority, label (ServiceNow's default lookup)
PRIORITY = [
    (1, 1, 1, "1 - Critical"),
    (1, 2, 2, "2 - High"),
    (1, 3, 3, "3 - Moderate"),
    (2, 1, 2, "2 - High"),
    (2, 2, 3, "3 - Moderate"),
    (2, 3, 4, "4 - Low"),
    (3, 1, 3, "3 - Moderate"),
    (3, 2, 4, "4 - Low"),
    (3, 3, 4, "4 - Low"),
]
LEVEL_LABEL = {1: "1 - High", 2: "2 - Medium", 3: "3 - Low"}


def _ts(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None


@pytest.mark.parametrize("path", ["incidents", "problems", "changes", "requests"])
def test_priority_and_labels_on_create(client, users, path):
    h = users["agent"].headers
    # Every pair on incidents; the corners and the asymmetric pair on the other types (same code path).
    pairs = PRIORITY if path == "incidents" else [PRIORITY[0], PRIORITY[2], PRIORITY[6], PRIORITY[8]]
    for impact, urgency, priority, label in pairs:
        r = client.post(
            f"{API}/{path}", json={"short_description": "x", "impact": impact, "urgency": urgency}, headers=h
        )
        assert r.status_code == 201, r.text
        body = r.json()
        assert (body["priority"], body["priority_label"]) == (priority, label), (impact, urgency)
        assert body["impact_label"] == LEVEL_LABEL[impact] and body["urgency_label"] == LEVEL_LABEL[urgency]


def test_default_priority_is_low(make):
    inc = make.incident()
    assert (inc["impact"], inc["urgency"], inc["priority"], inc["priority_label"]) == (3, 3, 4, "4 - Low")


def test_priority_follows_impact_and_urgency_changes_and_is_audited(client, users, make):
    inc = make.incident(impact=3, urgency=3)
    up = make.patch(f"incidents/{inc['id']}", {"impact": 1})
    assert (up["priority"], up["priority_label"]) == (3, "3 - Moderate")
    up = make.patch(f"incidents/{inc['id']}", {"urgency": 1})
    assert (up["priority"], up["priority_label"]) == (1, "1 - Critical")
    audit = client.get(f"{API}/incidents/{inc['id']}/audit", headers=users["agent"].headers).json()
    changes = [(e["field"], e["old_value"], e["new_value"]) for e in audit if e["action"] == "update"]
    assert changes == [
        ("impact", "3", "1"),
        ("priority", "4", "3"),
        ("urgency", "3", "1"),
        ("priority", "3", "1"),
    ]


@pytest.mark.parametrize(
    ("path", "fields"),
    [
        ("incidents", {"assignment_group": "Desk", "assigned_to": "agent", "caller": "requester"}),
        ("incidents", {"problem": "PRB0000001"}),
        ("assets", {"owner": "agent", "support_group": "Desk"}),
    ],
)
def test_patch_response_shows_new_reference_values(client, users, make, path, fields):
    make.group("Desk")
    make.problem()
    record = make.incident() if path == "incidents" else make.asset()
    r = client.patch(
        f"{API}/{path}/{record['id']}",
        json={"version": record["version"], **fields},
        headers=users["agent"].headers,
    )
    assert r.status_code == 200
    reread = make.get(f"{path}/{record['id']}")
    assert {k: reread[k] for k in fields} == fields  # stored correctly ...
    assert {k: r.json()[k] for k in fields} == fields  # ... and answered correctly


def test_priority_cannot_be_set_directly(client, users, make):
    inc = make.incident()
    r = client.patch(
        f"{API}/incidents/{inc['id']}", json={"version": 1, "priority": 1}, headers=users["agent"].headers
    )
    assert_error(r, 422, field="priority")


RESOLVE = {"state": "resolved", "resolution_code": "solved", "resolution_notes": "Restarted the relay"}


def test_resolve_close_timestamps(make):
    inc = make.incident()
    assert inc["resolved_at"] is None and inc["closed_at"] is None
    work = make.patch(f"incidents/{inc['id']}", {"state": "in_progress"})
    assert work["resolved_at"] is None
    resolved = make.patch(f"incidents/{inc['id']}", RESOLVE)
    assert resolved["state"] == "resolved" and resolved["closed_at"] is None
    assert _ts(resolved["resolved_at"]) >= _ts(work["updated_at"])
    closed = make.patch(f"incidents/{inc['id']}", {"state": "closed"})
    assert closed["resolved_at"] == resolved["resolved_at"]  # closing keeps the resolution time
    assert _ts(closed["closed_at"]) >= _ts(closed["resolved_at"])


def test_reopen_clears_timestamps_and_counts(client, users, make):
    inc = make.incident()
    make.patch(f"incidents/{inc['id']}", RESOLVE)
    reopened = make.patch(f"incidents/{inc['id']}", {"state": "in_progress"})
    assert (reopened["resolved_at"], reopened["closed_at"], reopened["reopen_count"]) == (None, None, 1)
    make.patch(f"incidents/{inc['id']}", {"state": "resolved"})
    again = make.patch(f"incidents/{inc['id']}", {"state": "in_progress"})
    assert again["reopen_count"] == 2 and again["resolved_at"] is None
    audit = client.get(f"{API}/incidents/{inc['id']}/audit", headers=users["agent"].headers).json()
    reopen_events = [(e["old_value"], e["new_value"]) for e in audit if e["field"] == "reopen_count"]
    assert reopen_events == [("0", "1"), ("1", "2")]


def test_resolving_without_resolution_fields_is_refused_and_changes_nothing(client, users, make):
    inc = make.incident()
    r = client.patch(
        f"{API}/incidents/{inc['id']}",
        json={"version": inc["version"], "state": "resolved"},
        headers=users["agent"].headers,
    )
    assert_error(r, 422, field="resolution_code")
    after = client.get(f"{API}/incidents/{inc['id']}", headers=users["agent"].headers).json()
    assert (after["state"], after["resolved_at"], after["version"]) == ("new", None, inc["version"])


def test_reassignment_count(make):
    make.group("Desk")
    make.group("Network")
    make.group("Mail")
    inc = make.incident()
    assert inc["reassignment_count"] == 0
    first = make.patch(f"incidents/{inc['id']}", {"assignment_group": "Desk"})
    assert first["reassignment_count"] == 0  # the first assignment is not a reassignment
    second = make.patch(f"incidents/{inc['id']}", {"assignment_group": "Network"})
    assert second["reassignment_count"] == 1
    same = make.patch(f"incidents/{inc['id']}", {"assignment_group": "Network", "assigned_to": "agent"})
    assert same["reassignment_count"] == 1
    assert make.get(f"incidents/{inc['id']}")["assigned_to"] == "agent"
    third = make.patch(f"incidents/{inc['id']}", {"assignment_group": "Mail"})
    assert third["reassignment_count"] == 2


def test_incident_links_to_problem_and_duplicate(client, users, make):
    prb = make.problem()
    master = make.incident(short_description="Mail down for everyone")
    dup = make.incident(short_description="Mail down", problem=prb["number"], duplicate_of=master["number"])
    assert (dup["problem"], dup["duplicate_of"]) == (prb["number"], master["number"])
    h = users["agent"].headers
    linked = client.get(f"{API}/incidents", params={"problem": prb["number"]}, headers=h).json()
    assert [i["number"] for i in linked["items"]] == [dup["number"]] and linked["total"] == 1
    dups = client.get(f"{API}/incidents", params={"duplicate_of": master["number"]}, headers=h).json()
    assert [i["number"] for i in dups["items"]] == [dup["number"]]
    # Unlink through PATCH and link an existing incident.
    make.patch(f"incidents/{dup['id']}", {"problem": None})
    assert make.get(f"incidents/{dup['id']}")["problem"] is None
    make.patch(f"incidents/{master['id']}", {"problem": prb["number"]})
    assert make.get(f"incidents/{master['id']}")["problem"] == prb["number"]
    for field, value in (("problem", "PRB0009999"), ("duplicate_of", "INC0009999")):
        r = client.post(f"{API}/incidents", json={"short_description": "x", field: value}, headers=h)
        err = assert_error(r, 422, field=field)
        assert value in err["message"]


def test_deleting_a_problem_unlinks_its_incidents(client, users, make):
    prb = make.problem()
    inc = make.incident(problem=prb["number"])
    assert client.delete(f"{API}/problems/{prb['id']}", headers=users["admin"].headers).status_code == 204
    assert (
        client.get(f"{API}/incidents/{inc['id']}", headers=users["agent"].headers).json()["problem"] is None
    )


def test_configuration_items_and_asset_tickets(client, users, make):
    make.asset("mail-01")
    make.asset("mail-02")
    make.asset("db-01")
    inc = make.incident(configuration_items=["mail-02", "mail-01"])
    assert inc["configuration_items"] == ["mail-01", "mail-02"]
    chg = make.change(configuration_items=["mail-01"])
    prb = make.problem(configuration_items=["db-01"])
    h = users["agent"].headers
    tickets = client.get(f"{API}/assets/mail-01/tickets", headers=h)
    assert tickets.status_code == 200
    assert sorted((t["record_type"], t["number"]) for t in tickets.json()["items"]) == [
        ("change", chg["number"]),
        ("incident", inc["number"]),
    ]
    assert [
        t["number"] for t in client.get(f"{API}/assets/CI0000003/tickets", headers=h).json()["items"]
    ] == [prb["number"]]
    updated = make.patch(f"incidents/{inc['id']}", {"configuration_items": ["db-01"]})
    assert updated["configuration_items"] == ["db-01"]
    assert [t["number"] for t in client.get(f"{API}/assets/mail-01/tickets", headers=h).json()["items"]] == [
        chg["number"]
    ]
    audit = client.get(f"{API}/incidents/{inc['id']}/audit", headers=h).json()
    assert [(e["field"], e["old_value"], e["new_value"]) for e in audit if e["action"] == "update"] == [
        ("configuration_items", '["mail-01", "mail-02"]', '["db-01"]')
    ]
    # Deleting a ticket removes its links; deleting an asset removes it from tickets.
    assert client.delete(f"{API}/changes/{chg['id']}", headers=users["admin"].headers).status_code == 204
    assert client.get(f"{API}/assets/mail-01/tickets", headers=h).json()["items"] == []
    assert client.delete(f"{API}/assets/db-01", headers=users["admin"].headers).status_code == 204
    assert client.get(f"{API}/incidents/{inc['id']}", headers=h).json()["configuration_items"] == []
    assert_error(client.get(f"{API}/assets/nope/tickets", headers=h), 404)
    r = client.post(
        f"{API}/incidents", json={"short_description": "x", "configuration_items": ["ghost"]}, headers=h
    )
    assert_error(r, 422, field="configuration_items")


def test_changing_configuration_items_bumps_version(make):
    make.asset("mail-01")
    inc = make.incident()
    updated = make.patch(f"incidents/{inc['id']}", {"configuration_items": ["mail-01"]})
    assert updated["configuration_items"] == ["mail-01"]
    assert updated["version"] == inc["version"] + 1
    assert updated["updated_at"] > inc["updated_at"]


def test_service_request_for_catalog_item(client, users, make):
    make.group("Hardware")
    make.catalog_item(
        "Laptop",
        price="1200.50",
        fulfilment_group="Hardware",
        requires_approval=True,
        variables=[{"name": "os", "label": "Operating system"}],
    )
    req = make.request(
        as_="requester", short_description=None, catalog_item="Laptop", quantity=2, variables={"os": "linux"}
    )
    assert req["number"] == "REQ0000001"
    assert (
        req["catalog_item"],
        req["short_description"],
        req["quantity"],
        req["variables"],
        req["caller"],
    ) == (
        "Laptop",
        "Laptop",
        2,
        {"os": "linux"},
        "requester",
    )
    assert req["state"] == "submitted"
    h = users["agent"].headers
    listed = client.get(f"{API}/requests", params={"catalog_item": "Laptop"}, headers=h).json()
    assert listed["total"] == 1
    r = client.post(f"{API}/requests", json={"catalog_item": "Tablet"}, headers=h)
    err = assert_error(r, 422, field="catalog_item")
    assert "Tablet" in err["message"]
    item = client.get(f"{API}/catalog-items/Laptop", headers=h).json()
    assert (item["price"], item["fulfilment_group"], item["requires_approval"]) == (
        "1200.50",
        "Hardware",
        True,
    )
    for bad in ({"catalog_item": "Laptop", "quantity": 0}, {"catalog_item": "Laptop", "quantity": 1001}):
        assert_error(client.post(f"{API}/requests", json=bad, headers=h), 422, field="quantity")


def test_knowledge_lifecycle_dates_and_versions(make):
    art = make.article(short_description="VPN", text="v1")
    assert (art["state"], art["author"], art["article_version"]) == ("draft", "agent", 1)
    edited = make.patch(f"knowledge/{art['id']}", {"text": "v2"})
    assert edited["article_version"] == 2
    make.patch(f"knowledge/{art['id']}", {"state": "review"})
    published = make.patch(f"knowledge/{art['id']}", {"state": "published"})
    assert published["published_at"] is not None and published["retired_at"] is None
    retired = make.patch(f"knowledge/{art['id']}", {"state": "retired"})
    assert retired["retired_at"] is not None and retired["published_at"] == published["published_at"]
