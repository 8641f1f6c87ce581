"""Edges of the store fixes beyond the original bug tests: group delete semantics, versions and audit of
link-only changes, blank and null input on every path, reference loops, inactive catalog items."""

from __future__ import annotations

import pytest

from tests.api.conftest import API, assert_error, store_events


def test_group_still_referenced_is_409_naming_the_field_and_kept(client, users, make):
    make.group("Desk", members=["agent"])
    inc = make.incident(assignment_group="Desk")
    h = users["admin"].headers
    err = assert_error(client.delete(f"{API}/groups/Desk", headers=h), 409, field="assignment_group")
    assert "active=false" in err["message"]
    assert make.get("groups/Desk")["members"] == ["agent"]
    assert make.get(f"incidents/{inc['id']}")["assignment_group"] == "Desk"
    make.patch(f"incidents/{inc['id']}", {"assignment_group": None})
    assert client.delete(f"{API}/groups/Desk", headers=h).status_code == 204


def test_group_used_by_a_catalog_item_is_409(client, users, make):
    make.group("Hardware")
    make.catalog_item("Laptop", fulfilment_group="Hardware")
    r = client.delete(f"{API}/groups/Hardware", headers=users["admin"].headers)
    assert_error(r, 409, field="fulfilment_group")


def test_group_delete_is_admin_only_and_audited(client, users, make):
    from sqlalchemy import select

    from itsm_ai import database
    from itsm_ai.audit.models import AuditEvent

    g = make.group("Old team", members=["agent"])
    assert_error(client.delete(f"{API}/groups/Old team", headers=users["agent"].headers), 403)
    assert client.delete(f"{API}/groups/{g['id']}", headers=users["admin"].headers).status_code == 204
    assert_error(client.delete(f"{API}/groups/Old team", headers=users["admin"].headers), 404)
    with database.get_session() as s:
        # In id order: without ORDER BY, PostgreSQL returns rows in heap order, which vacuum may reshuffle.
        stmt = select(AuditEvent).where(AuditEvent.record_type == "group").order_by(AuditEvent.id)
        rows = list(s.scalars(stmt))
    assert [(e.action, e.old_value, e.actor_name) for e in store_events(rows)][-1] == (
        "delete",
        "Old team",
        "admin",
    )
    # A new group with the same name starts clean.
    assert make.group("Old team")["members"] == []


def test_member_change_is_audited_and_stale_version_refused(client, users, make):
    g = make.group("Network", members=["agent"])
    h = users["admin"].headers
    r = client.patch(f"{API}/groups/Network", json={"version": g["version"], "members": []}, headers=h)
    assert r.status_code == 200 and r.json()["version"] == g["version"] + 1
    again = client.patch(
        f"{API}/groups/Network", json={"version": g["version"], "members": ["agent2"]}, headers=h
    )
    assert_error(again, 409, field="version")
    audit = client.get(f"{API}/groups/Network/audit", headers=h).json()
    assert [(e["field"], e["new_value"]) for e in store_events(audit)[1:]] == [("members", "[]")]


def test_ci_only_change_is_audited_once_and_bumps_once(client, users, make):
    make.asset("mail-01")
    inc = make.incident()
    updated = make.patch(f"incidents/{inc['id']}", {"configuration_items": ["mail-01"]})
    same = make.patch(f"incidents/{inc['id']}", {"configuration_items": ["mail-01"]})
    assert same["version"] == updated["version"] == inc["version"] + 1
    audit = make.get(f"incidents/{inc['id']}/audit")
    assert [e["field"] for e in store_events(audit) if e["action"] == "update"] == ["configuration_items"]


@pytest.mark.parametrize(("field", "value"), [("name", None), ("active", None), ("name", "  ")])
def test_group_null_or_blank_is_422(client, users, make, field, value):
    g = make.group("Desk")
    r = client.patch(
        f"{API}/groups/Desk", json={"version": g["version"], field: value}, headers=users["admin"].headers
    )
    assert_error(r, 422, field=field)
    assert make.get("groups/Desk") == g


def test_blank_group_name_on_create_is_422(client, users):
    assert_error(
        client.post(f"{API}/groups", json={"name": " \t"}, headers=users["admin"].headers), 422, field="name"
    )


@pytest.mark.parametrize("path", ["incidents", "problems", "changes", "requests", "knowledge"])
def test_blank_short_description_on_update_is_422(client, users, make, path):
    created = make.post(path, {"short_description": "Real title"})
    r = client.patch(
        f"{API}/{path}/{created['id']}",
        json={"version": created["version"], "short_description": "  \n "},
        headers=users["agent"].headers,
    )
    assert_error(r, 422, field="short_description")
    assert make.get(f"{path}/{created['id']}")["short_description"] == "Real title"


def test_blank_request_title_is_422_not_the_item_name(client, users, make):
    make.catalog_item("Laptop")
    r = client.post(
        f"{API}/requests",
        json={"catalog_item": "Laptop", "short_description": "   "},
        headers=users["agent"].headers,
    )
    assert_error(r, 422, field="short_description")


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("catalog-items", {"active": None}, "active"),
        ("catalog-items", {"name": None}, "name"),
        ("knowledge", {"text": None}, "text"),
        ("requests", {"quantity": None}, "quantity"),
    ],
)
def test_null_for_required_fields_of_other_types_is_422(client, users, make, path, body, field):
    created = {
        "catalog-items": lambda: make.catalog_item("Laptop"),
        "knowledge": lambda: make.article(),
        "requests": lambda: make.request(short_description="Need a thing"),
    }[path]()
    r = client.patch(
        f"{API}/{path}/{created['id']}",
        json={"version": created["version"], **body},
        headers=users["admin"].headers,
    )
    assert_error(r, 422, field=field)


def test_duplicate_loop_is_422(client, users, make):
    a, b = make.incident(), make.incident()
    make.patch(f"incidents/{a['id']}", {"duplicate_of": b["number"]})
    r = client.patch(
        f"{API}/incidents/{b['id']}",
        json={"version": b["version"], "duplicate_of": a["number"]},
        headers=users["agent"].headers,
    )
    assert_error(r, 422, field="duplicate_of")
    assert make.get(f"incidents/{b['id']}")["duplicate_of"] is None


def test_nobody_orders_an_inactive_item_but_old_requests_still_list(client, users, make):
    make.catalog_item("Fax machine")
    req = make.request(catalog_item="Fax machine")
    item = make.get("catalog-items/Fax machine", as_="admin")
    make.patch("catalog-items/Fax machine", {"active": False}, as_="admin")
    assert item["active"] is True
    r = client.post(f"{API}/requests", json={"catalog_item": "Fax machine"}, headers=users["agent"].headers)
    err = assert_error(r, 422, field="catalog_item")
    assert "Fax machine" in err["message"]
    listed = make.get("requests", params={"catalog_item": "Fax machine"})
    assert [i["number"] for i in listed["items"]] == [req["number"]] and listed["total"] == 1


def test_data_scientist_reads_comments_but_cannot_post_public_ones(client, users, make):
    inc = make.incident()
    h = users["data_scientist"].headers
    assert client.get(f"{API}/incidents/{inc['id']}/comments", headers=h).status_code == 200
    r = client.post(f"{API}/incidents/{inc['id']}/comments", json={"body": "hi"}, headers=h)
    assert_error(r, 403)
    assert make.get(f"incidents/{inc['id']}/comments") == []


def test_total_after_user_rename_follows_the_user(client, users, make):
    make.incident(caller="requester")
    params = {"caller": "requester"}
    assert make.get("incidents", params=params)["total"] == 1
    make.patch("users/requester", {"full_name": "R"}, as_="admin")
    assert make.get("incidents", params=params)["total"] == 1
    make.patch("incidents/INC0000001", {"caller": "requester2"})
    assert make.get("incidents", params=params)["total"] == 0
    assert make.get("incidents", params={"caller": "requester2"})["total"] == 1
