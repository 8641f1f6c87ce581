"""Bad input gets a 4xx naming the field, in the one error body shape, and stores nothing.

Every test here either fails to write or writes only records of its own, so the module shares one database.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tests.api.conftest import API, assert_error, store_actions


@pytest.fixture(scope="module")
def client(shared_api):
    return shared_api.client


@pytest.fixture(scope="module")
def users(shared_api):
    return shared_api.users


@pytest.fixture(scope="module")
def make(shared_api):
    return shared_api.make


def _count(client, users, path: str) -> int:
    return client.get(f"{API}/{path}", headers=users["admin"].headers).json()["total"]


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("incidents", {"short_description": "x", "impact": 7}, "impact"),
        ("incidents", {"short_description": "x", "urgency": 0}, "urgency"),
        ("incidents", {"short_description": "x", "impact": "high"}, "impact"),
        ("incidents", {}, "short_description"),
        ("incidents", {"short_description": ""}, "short_description"),
        ("incidents", {"short_description": "x" * 256}, "short_description"),
        ("incidents", {"short_description": "x", "priority": 1}, "priority"),
        ("incidents", {"short_description": "x", "number": "INC0000099"}, "number"),
        ("incidents", {"short_description": "x", "bogus": 1}, "bogus"),
        ("incidents", {"short_description": "x", "state": "open"}, "state"),
        ("incidents", {"short_description": "x", "on_hold_reason": "lunch"}, "on_hold_reason"),
        ("incidents", {"short_description": "x", "caller": "ghost"}, "caller"),
        ("incidents", {"short_description": "x", "assignment_group": "Ghost team"}, "assignment_group"),
        ("incidents", {"short_description": "x", "assigned_to": "ghost"}, "assigned_to"),
        ("incidents", {"short_description": "x", "configuration_items": ["ghost"]}, "configuration_items"),
        ("incidents", {"short_description": "x", "opened_at": "yesterday"}, "opened_at"),
        ("problems", {"short_description": "x", "state": "open"}, "state"),
        ("changes", {"short_description": "x", "change_type": "sneaky"}, "change_type"),
        ("changes", {"short_description": "x", "risk": "extreme"}, "risk"),
        ("requests", {"short_description": "x", "state": "approved"}, "state"),
        ("knowledge", {"text": "no title"}, "short_description"),
        ("knowledge", {"short_description": "x", "state": "published"}, "state"),
        ("assets", {}, "name"),
        ("assets", {"name": "a", "ip_address": "999.1.1.1"}, "ip_address"),
        ("assets", {"name": "a", "status": "lost"}, "status"),
        ("assets", {"name": "a", "ci_class": "toaster"}, "ci_class"),
        ("catalog-items", {"name": "a", "price": -1}, "price"),
        (
            "catalog-items",
            {"name": "a", "variables": [{"name": "Bad Name", "label": "x"}]},
            "variables.0.name",
        ),
        ("catalog-items", {"name": "a", "bogus": True}, "bogus"),
        ("groups", {"name": ""}, "name"),
        ("groups", {"name": "g", "manager": "ghost"}, "manager"),
        ("groups", {"name": "g", "email": "nope"}, "email"),
    ],
)
def test_invalid_create_is_422_naming_the_field(client, users, path, body, field):
    before = _count(client, users, path)
    r = client.post(f"{API}/{path}", json=body, headers=users["admin"].headers)
    err = assert_error(r, 422, field=field)
    assert field.split(".")[0] in err["message"]
    assert _count(client, users, path) == before


def test_unknown_group_field_is_422(client, users):
    r = client.post(f"{API}/groups", json={"name": "g", "bogus": 1}, headers=users["admin"].headers)
    assert_error(r, 422, field="bogus")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"impact": 7}, "impact"),
        ({"state": "open"}, "state"),
        ({"short_description": ""}, "short_description"),
        ({"bogus": 1}, "bogus"),
        ({"caller": "ghost"}, "caller"),
        ({"assignment_group": "Ghost team"}, "assignment_group"),
        ({"problem": "PRB0000404"}, "problem"),
        ({"configuration_items": ["ghost"]}, "configuration_items"),
        ({"version": "one"}, "version"),
    ],
)
def test_invalid_update_is_422_and_changes_nothing(client, users, make, body, field):
    inc = make.incident(short_description="Original", description="orig")
    payload = {"version": inc["version"], "description": "should not stick", **body}
    r = client.patch(f"{API}/incidents/{inc['id']}", json=payload, headers=users["agent"].headers)
    assert_error(r, 422, field=field)
    after = make.get(f"incidents/{inc['id']}")
    assert after == inc
    audit = make.get(f"incidents/{inc['id']}/audit")
    assert store_actions(audit) == ["create"]


def test_update_without_version_is_422(client, users, make):
    inc = make.incident()
    r = client.patch(f"{API}/incidents/{inc['id']}", json={"urgency": 1}, headers=users["agent"].headers)
    assert_error(r, 422, field="version")
    assert make.get(f"incidents/{inc['id']}")["urgency"] == 3


@pytest.mark.parametrize("field", ["short_description", "impact", "urgency", "state"])
def test_null_for_a_required_field_is_422(client, users, make, field):
    inc = make.incident()
    r = client.patch(
        f"{API}/incidents/{inc['id']}",
        json={"version": inc["version"], field: None},
        headers=users["agent"].headers,
    )
    assert_error(r, 422, field=field)
    assert make.get(f"incidents/{inc['id']}") == inc


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("incidents", {"short_description": "x", "opened_at": "2024-01-01T09:00:00"}, "opened_at"),
        ("changes", {"short_description": "x", "planned_start": "2024-01-01T09:00:00"}, "planned_start"),
        ("knowledge", {"short_description": "x", "valid_to": "2030-01-01T00:00:00"}, "valid_to"),
    ],
)
def test_naive_datetime_in_body_is_422(client, users, path, body, field):
    r = client.post(f"{API}/{path}", json=body, headers=users["agent"].headers)
    assert_error(r, 422, field=field)


def test_aware_datetime_in_body_is_stored_in_utc(make):
    inc = make.incident(opened_at="2024-01-01T10:00:00+02:00")
    assert datetime.fromisoformat(inc["opened_at"]) == datetime(2024, 1, 1, 8, tzinfo=UTC)
    assert make.get(f"incidents/{inc['id']}")["opened_at"] == "2024-01-01T08:00:00Z"


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("incidents", {"short_description": "x", "correlation_id": "ext-1"}, "correlation_id"),
        ("knowledge", {"short_description": "x", "correlation_id": "ext-1"}, "correlation_id"),
        ("assets", {"name": "srv-1"}, "name"),
        ("catalog-items", {"name": "Laptop"}, "name"),
    ],
)
def test_duplicate_unique_value_is_409(client, users, path, body, field):
    h = users["admin"].headers
    before = _count(client, users, path)
    assert client.post(f"{API}/{path}", json=body, headers=h).status_code == 201
    assert_error(client.post(f"{API}/{path}", json=body, headers=h), 409, field=field)
    assert _count(client, users, path) == before + 1


@pytest.mark.parametrize(
    "path",
    [
        "incidents",
        "problems",
        "changes",
        "requests",
        "knowledge",
        "assets",
        "catalog-items",
        "groups",
        "users",
    ],
)
def test_unknown_ids_are_404(client, users, path):
    h = users["admin"].headers
    for ref in ("999999", "INC0999999", "no-such-thing"):
        assert_error(client.get(f"{API}/{path}/{ref}", headers=h), 404)
    if path != "users":
        assert_error(client.get(f"{API}/{path}/999999/audit", headers=h), 404)
    assert_error(client.patch(f"{API}/{path}/no-such-thing", json={"version": 1}, headers=h), 404)
    if path not in ("groups", "users"):
        assert_error(client.delete(f"{API}/{path}/999999", headers=h), 404)


@pytest.mark.parametrize("path", ["incidents", "problems", "changes", "requests"])
def test_comments_on_unknown_ticket_are_404(client, users, path):
    h = users["agent"].headers
    assert_error(client.get(f"{API}/{path}/999/comments", headers=h), 404)
    assert_error(client.post(f"{API}/{path}/999/comments", json={"body": "x"}, headers=h), 404)


def test_unknown_route_and_method_use_the_error_shape(client, users):
    h = users["agent"].headers
    assert_error(client.get(f"{API}/nothing-here", headers=h), 404)
    assert_error(client.put(f"{API}/incidents", json={}, headers=h), 405)


def test_malformed_json_is_422(client, users):
    r = client.post(
        f"{API}/incidents",
        content=b"{not json",
        headers={**users["agent"].headers, "Content-Type": "application/json"},
    )
    assert_error(r, 422)


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": 501}, "limit"),
        ({"limit": 0}, "limit"),
        ({"offset": -1}, "offset"),
        ({"sort": "short_description"}, "sort"),
        ({"sort": "-bogus"}, "sort"),
        ({"cursor": "!!!not-a-cursor"}, "cursor"),
        ({"priority": "high"}, "priority.0"),
        ({"opened_after": "not a date"}, "opened_after"),
        ({"q": "x" * 201}, "q"),
    ],
)
def test_bad_list_parameters_are_422(client, users, params, field):
    r = client.get(f"{API}/incidents", params=params, headers=users["agent"].headers)
    err = assert_error(r, 422, field=field)
    assert field in err["message"]


@pytest.mark.parametrize("param", ["opened_after", "opened_before"])
def test_naive_range_bound_is_422_naming_the_parameter(client, users, param):
    r = client.get(f"{API}/incidents", params={param: "2024-01-01T00:00:00"}, headers=users["agent"].headers)
    assert_error(r, 422, field=param)


def test_naive_range_bound_is_422(client, users):
    r = client.get(
        f"{API}/incidents", params={"opened_after": "2024-01-01T00:00:00"}, headers=users["agent"].headers
    )
    err = assert_error(r, 422)
    assert "time zone" in err["message"] and "opened_after" in err["message"]


def test_unknown_list_parameter_is_422(client, users, make):
    make.incident()
    r = client.get(f"{API}/incidents", params={"stat": "closed"}, headers=users["agent"].headers)
    assert_error(r, 422, field="stat")


def test_export_of_unknown_type_or_format_is_422(client, users):
    h = users["data_scientist"].headers
    assert_error(client.get(f"{API}/export/bogus", headers=h), 422, field="type")
    assert_error(
        client.get(f"{API}/export/incidents", params={"format": "xlsx"}, headers=h), 422, field="format"
    )


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"body": ""}, "body"),
        ({}, "body"),
        ({"body": "x", "visibility": "secret"}, "visibility"),
        ({"body": "x", "extra": 1}, "extra"),
    ],
)
def test_invalid_comment_is_422(client, users, make, body, field):
    inc = make.incident()
    r = client.post(f"{API}/incidents/{inc['id']}/comments", json=body, headers=users["agent"].headers)
    assert_error(r, 422, field=field)
    assert make.get(f"incidents/{inc['id']}/comments") == []


@pytest.mark.parametrize("path", ["incidents", "problems", "changes", "knowledge"])
def test_blank_short_description_is_422(client, users, path):
    before = _count(client, users, path)
    r = client.post(f"{API}/{path}", json={"short_description": "   "}, headers=users["agent"].headers)
    assert_error(r, 422, field="short_description")
    assert _count(client, users, path) == before


def test_incident_cannot_be_a_duplicate_of_itself(client, users, make):
    inc = make.incident()
    r = client.patch(
        f"{API}/incidents/{inc['id']}",
        json={"version": inc["version"], "duplicate_of": inc["number"]},
        headers=users["agent"].headers,
    )
    assert_error(r, 422, field="duplicate_of")
    assert make.get(f"incidents/{inc['id']}")["duplicate_of"] is None
