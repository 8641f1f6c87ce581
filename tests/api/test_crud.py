"""Create, read (by id and by number or name), versioned update and delete for every record type."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
from sqlalchemy import select

from itsm_ai import database
from itsm_ai.audit.models import AuditEvent
from tests.api.conftest import API, assert_error, store_actions, store_events


@dataclass(frozen=True)
class Kind:
    path: str
    record_type: str
    body: dict[str, Any]
    key: str  # the readable key: number, or name for records without a number
    prefix: str | None
    patch: tuple[str, Any]
    setup: tuple[str, ...] = field(default_factory=tuple)


KINDS = [
    Kind("incidents", "incident", {"short_description": "VPN drops"}, "number", "INC", ("urgency", 1)),
    Kind(
        "problems",
        "problem",
        {"short_description": "VPN concentrator leaks"},
        "number",
        "PRB",
        ("description", "memory leak"),
    ),
    Kind(
        "changes",
        "change",
        {"short_description": "Upgrade VPN", "change_type": "standard"},
        "number",
        "CHG",
        ("risk", "high"),
    ),
    Kind(
        "requests",
        "service_request",
        {"catalog_item": "Laptop", "quantity": 2},
        "number",
        "REQ",
        ("quantity", 3),
        setup=("catalog",),
    ),
    Kind(
        "knowledge",
        "knowledge_article",
        {"short_description": "VPN how-to", "text": "Click connect."},
        "number",
        "KB",
        ("text", "Click connect twice."),
    ),
    Kind(
        "assets",
        "asset",
        {"name": "vpn-01", "ci_class": "network"},
        "number",
        "CI",
        ("status", "in_maintenance"),
    ),
    Kind(
        "catalog-items",
        "catalog_item",
        {"name": "Monitor", "price": "199.00"},
        "name",
        None,
        ("description", "27 inch"),
    ),
    Kind("groups", "group", {"name": "Network"}, "name", None, ("description", "Routers and VPN")),
]
IDS = [k.path for k in KINDS]


@pytest.fixture
def setup_for(make):
    def _setup(kind: Kind) -> None:
        if "catalog" in kind.setup:
            make.catalog_item("Laptop")

    return _setup


def _create(client, users, kind: Kind) -> dict[str, Any]:
    r = client.post(f"{API}/{kind.path}", json=kind.body, headers=users["admin"].headers)
    assert r.status_code == 201, r.text
    return r.json()


def _audit_rows(record_type: str, record_id: int) -> list[AuditEvent]:
    with database.get_session() as session:
        rows = session.scalars(
            select(AuditEvent)
            .where(AuditEvent.record_type == record_type, AuditEvent.record_id == record_id)
            .order_by(AuditEvent.id)
        ).all()
        session.expunge_all()
        return list(rows)


@pytest.mark.parametrize("kind", KINDS, ids=IDS)
def test_create_and_read_by_id_and_key(client, users, setup_for, kind):
    setup_for(kind)
    created = _create(client, users, kind)
    for name, value in kind.body.items():
        assert created[name] == value, name
    assert created["version"] == 1
    if kind.prefix:
        assert created["number"] == f"{kind.prefix}0000001"
    h = users["agent"].headers
    by_id = client.get(f"{API}/{kind.path}/{created['id']}", headers=h)
    by_key = client.get(f"{API}/{kind.path}/{created[kind.key]}", headers=h)
    assert by_id.status_code == 200 and by_key.status_code == 200
    assert by_id.json() == by_key.json() == created
    if kind.prefix:  # numbers are matched case-insensitively
        assert (
            client.get(f"{API}/{kind.path}/{created['number'].lower()}", headers=h).json()["id"]
            == created["id"]
        )


@pytest.mark.parametrize("kind", KINDS, ids=IDS)
def test_patch_with_version_changes_and_audits(client, users, setup_for, kind):
    setup_for(kind)
    created = _create(client, users, kind)
    name, value = kind.patch
    r = client.patch(
        f"{API}/{kind.path}/{created['id']}",
        json={"version": created["version"], name: value},
        headers=users["admin"].headers,
    )
    assert r.status_code == 200, r.text
    updated = r.json()
    assert updated[name] == value and updated["version"] == created["version"] + 1
    if "updated_at" in created:
        assert updated["updated_at"] > created["updated_at"]
    assert updated["created_at"] == created["created_at"]
    reread = client.get(f"{API}/{kind.path}/{created['id']}", headers=users["admin"].headers).json()
    assert reread == updated
    audit = client.get(f"{API}/{kind.path}/{created['id']}/audit", headers=users["admin"].headers).json()
    changes = [e for e in audit if e["action"] == "update" and e["field"] == name]
    assert len(changes) == 1
    assert changes[0]["old_value"] == (None if created[name] is None else str(created[name]))
    assert changes[0]["new_value"] == str(value) and changes[0]["actor"] == "admin"


@pytest.mark.parametrize("kind", KINDS, ids=IDS)
def test_stale_version_is_409_and_changes_nothing(client, users, setup_for, kind):
    setup_for(kind)
    created = _create(client, users, kind)
    h = users["admin"].headers
    name, value = kind.patch
    first = client.patch(
        f"{API}/{kind.path}/{created['id']}", json={"version": created["version"], name: value}, headers=h
    )
    assert first.status_code == 200
    audit_before = client.get(f"{API}/{kind.path}/{created['id']}/audit", headers=h).json()
    # A second writer still holding version 1 tries to change two fields.
    other = "stale write"
    body = {"version": created["version"], "description": other}
    if kind.path in ("knowledge",):
        body = {"version": created["version"], "short_description": other}
    r = client.patch(f"{API}/{kind.path}/{created['id']}", json=body, headers=h)
    err = assert_error(r, 409, field="version")
    assert str(first.json()["version"]) in err["message"] or kind.path in ("groups",)
    after = client.get(f"{API}/{kind.path}/{created['id']}", headers=h).json()
    assert after == first.json()
    assert client.get(f"{API}/{kind.path}/{created['id']}/audit", headers=h).json() == audit_before


@pytest.mark.parametrize(
    "kind", [k for k in KINDS if k.path != "groups"], ids=[i for i in IDS if i != "groups"]
)
def test_admin_delete_then_404_and_audit_keeps_the_delete(client, users, setup_for, kind):
    setup_for(kind)
    created = _create(client, users, kind)
    h = users["admin"].headers
    total_before = client.get(f"{API}/{kind.path}", headers=h).json()["total"]
    assert total_before == 1
    r = client.delete(f"{API}/{kind.path}/{created[kind.key]}", headers=h)
    assert r.status_code == 204 and r.content == b""
    assert_error(client.get(f"{API}/{kind.path}/{created['id']}", headers=h), 404)
    assert_error(client.get(f"{API}/{kind.path}/{created[kind.key]}", headers=h), 404)
    assert_error(client.delete(f"{API}/{kind.path}/{created['id']}", headers=h), 404)
    body = client.get(f"{API}/{kind.path}", headers=h).json()
    assert body["total"] == 0 and body["items"] == []
    rows = _audit_rows(kind.record_type, created["id"])
    assert store_actions(rows) == ["create", "delete"]
    delete = store_events(rows)[-1]
    assert delete.actor_name == "admin" and delete.old_value == str(created[kind.key])


def test_admin_can_delete_a_group(client, users, make):
    make.group("Old team")
    r = client.delete(f"{API}/groups/Old team", headers=users["admin"].headers)
    assert r.status_code == 204
    assert_error(client.get(f"{API}/groups/Old team", headers=users["admin"].headers), 404)


@pytest.mark.parametrize("kind", [k for k in KINDS if k.prefix], ids=[k.path for k in KINDS if k.prefix])
def test_numbers_are_sequential_per_type_and_never_reused(client, users, setup_for, kind):
    setup_for(kind)
    h = users["admin"].headers
    made = []
    for i in range(3):
        body = dict(kind.body)
        if "name" in body:
            body["name"] = f"{body['name']}-{i}"
        r = client.post(f"{API}/{kind.path}", json=body, headers=h)
        assert r.status_code == 201
        made.append(r.json())
    assert [m["number"] for m in made] == [f"{kind.prefix}000000{i}" for i in (1, 2, 3)]
    assert client.delete(f"{API}/{kind.path}/{made[-1]['id']}", headers=h).status_code == 204
    body = dict(kind.body)
    if "name" in body:
        body["name"] = f"{body['name']}-new"
    r = client.post(f"{API}/{kind.path}", json=body, headers=h)
    assert r.json()["number"] == f"{kind.prefix}0000004"


def test_numbers_are_independent_per_type(make):
    assert make.incident()["number"] == "INC0000001"
    assert make.incident()["number"] == "INC0000002"
    assert make.problem()["number"] == "PRB0000001"
    assert make.change()["number"] == "CHG0000001"
    assert make.request()["number"] == "REQ0000001"
    assert make.article()["number"] == "KB0000001"
    assert make.asset()["number"] == "CI0000001"
    assert make.incident()["number"] == "INC0000003"


def test_a_new_record_never_inherits_a_deleted_records_audit(client, users, make):
    first = make.incident(short_description="first")
    assert client.delete(f"{API}/incidents/{first['id']}", headers=users["admin"].headers).status_code == 204
    second = make.incident(short_description="second")
    audit = client.get(f"{API}/incidents/{second['id']}/audit", headers=users["agent"].headers).json()
    assert store_actions(audit) == ["create"]
    assert "INC0000002" in audit[0]["new_value"]


def test_location_header_points_at_the_new_record(client, users):
    r = client.post(f"{API}/incidents", json={"short_description": "x"}, headers=users["agent"].headers)
    assert r.status_code == 201
    loc = r.headers["location"]
    assert loc == f"{API}/incidents/{r.json()['id']}"
    assert client.get(loc, headers=users["agent"].headers).json()["number"] == "INC0000001"


def test_group_members_and_manager(client, users, make):
    g = make.group("Network", members=["agent", "agent2"], manager="agent", email="net@example.com")
    assert (g["members"], g["manager"], g["email"]) == (["agent", "agent2"], "agent", "net@example.com")
    assert_error(
        client.post(f"{API}/groups", json={"name": "Network"}, headers=users["admin"].headers),
        409,
        field="name",
    )
    assert_error(
        client.post(
            f"{API}/groups", json={"name": "X", "members": ["ghost"]}, headers=users["admin"].headers
        ),
        422,
        field="members",
    )
    r = client.patch(
        f"{API}/groups/Network",
        json={"version": g["version"], "manager": "agent2"},
        headers=users["admin"].headers,
    )
    assert r.status_code == 200 and r.json()["manager"] == "agent2"
    audit = client.get(f"{API}/groups/Network/audit", headers=users["agent"].headers).json()
    assert [(e["action"], e["field"], e["old_value"], e["new_value"]) for e in store_events(audit)[1:]] == [
        ("update", "manager", "agent", "agent2")
    ]


def test_changing_group_members_bumps_the_version(client, users, make):
    g = make.group("Network", members=["agent"])
    r = client.patch(
        f"{API}/groups/Network",
        json={"version": g["version"], "members": ["agent", "agent2"]},
        headers=users["admin"].headers,
    )
    assert r.status_code == 200 and r.json()["members"] == ["agent", "agent2"]
    assert r.json()["version"] == g["version"] + 1
