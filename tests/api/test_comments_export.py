"""Comments (public replies vs internal work notes) and the data export for data scientists."""

from __future__ import annotations

import io

import pandas as pd
import pytest

from tests.api.conftest import API, STORE_ACTIONS, assert_error, store_events


@pytest.mark.parametrize("path", ["incidents", "requests"])
def test_requester_comments_on_own_ticket(client, users, make, path):
    ticket = (make.incident if path == "incidents" else make.request)(caller="requester")
    req = users["requester"].headers
    r = client.post(f"{API}/{path}/{ticket['number']}/comments", json={"body": "Still broken"}, headers=req)
    assert r.status_code == 201
    body = r.json()
    assert (body["body"], body["visibility"], body["author"], body["record_id"]) == (
        "Still broken",
        "public",
        "requester",
        ticket["id"],
    )
    r = client.post(
        f"{API}/{path}/{ticket['id']}/comments",
        json={"body": "sneaky note", "visibility": "internal"},
        headers=req,
    )
    assert_error(r, 403, field="visibility")
    listed = client.get(f"{API}/{path}/{ticket['id']}/comments", headers=users["agent"].headers).json()
    assert [(c["body"], c["visibility"], c["author"]) for c in listed] == [
        ("Still broken", "public", "requester")
    ]
    audit = client.get(f"{API}/{path}/{ticket['id']}/audit", headers=users["agent"].headers).json()
    assert [(e["action"], e["field"], e["new_value"], e["actor"]) for e in store_events(audit)[1:]] == [
        ("comment", "comments", "Still broken", "requester")
    ]


def test_agents_see_public_and_internal_in_order(client, users, make):
    inc = make.incident(caller="requester")
    posts = [
        ("agent", "Looking into it", "public"),
        ("agent2", "Relay log shows disk full", "internal"),
        ("requester", "Thanks", "public"),
        ("admin", "Escalate if it recurs", "internal"),
    ]
    for who, text, visibility in posts:
        r = client.post(
            f"{API}/incidents/{inc['id']}/comments",
            json={"body": text, "visibility": visibility},
            headers=users[who].headers,
        )
        assert r.status_code == 201, r.text
    for role in ("agent", "admin"):
        listed = client.get(f"{API}/incidents/{inc['id']}/comments", headers=users[role].headers).json()
        assert [(c["author"], c["body"], c["visibility"]) for c in listed] == [(w, t, v) for w, t, v in posts]
    mine = client.get(f"{API}/incidents/{inc['id']}/comments", headers=users["requester"].headers).json()
    assert [c["body"] for c in mine] == ["Looking into it", "Thanks"]
    # Comments are not field changes: the record's version is unchanged.
    assert make.get(f"incidents/{inc['id']}")["version"] == inc["version"]


def test_deleting_a_ticket_deletes_its_comments_but_not_its_audit(client, users, make):
    from sqlalchemy import func, select

    from itsm_ai import database
    from itsm_ai.audit.models import AuditEvent
    from itsm_ai.comment.models import Comment

    inc = make.incident()
    other = make.incident()
    for ticket in (inc, other):
        client.post(
            f"{API}/incidents/{ticket['id']}/comments", json={"body": "note"}, headers=users["agent"].headers
        )
    assert client.delete(f"{API}/incidents/{inc['id']}", headers=users["admin"].headers).status_code == 204
    with database.get_session() as session:
        by_record = dict(
            session.execute(select(Comment.record_id, func.count()).group_by(Comment.record_id)).all()
        )
        actions = session.scalars(
            select(AuditEvent.action)
            .where(AuditEvent.record_type == "incident", AuditEvent.record_id == inc["id"])
            .order_by(AuditEvent.id)
        ).all()
    assert by_record == {other["id"]: 1}
    assert [a for a in actions if a in STORE_ACTIONS] == ["create", "comment", "delete"]


# ----------------------------------------------------------------------------------------------- export


@pytest.fixture
def exportable(make):
    make.group("Desk")
    make.asset("mail-01")
    make.incident(
        short_description="Mail down",
        impact=1,
        urgency=1,
        assignment_group="Desk",
        configuration_items=["mail-01"],
        caller="requester",
    )
    make.incident(short_description='Quote "this", and a comma', category="software")
    make.incident(short_description="Third, with\nnewline")


@pytest.mark.parametrize("role", ["data_scientist", "admin"])
def test_export_csv(client, users, exportable, role):
    r = client.get(f"{API}/export/incidents", params={"format": "csv"}, headers=users[role].headers)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/csv")
    assert r.headers["content-disposition"] == 'attachment; filename="incidents.csv"'
    frame = pd.read_csv(io.BytesIO(r.content))
    assert len(frame) == 3
    assert list(frame["number"]) == ["INC0000001", "INC0000002", "INC0000003"]
    assert list(frame["short_description"]) == [
        "Mail down",
        'Quote "this", and a comma',
        "Third, with\nnewline",
    ]
    first = frame.iloc[0]
    assert (first["priority"], first["priority_label"], first["assignment_group"], first["caller"]) == (
        1,
        "1 - Critical",
        "Desk",
        "requester",
    )
    assert first["configuration_items"] == '["mail-01"]'
    assert {"state", "opened_at", "reopen_count", "problem"} <= set(frame.columns)


def test_export_parquet(client, users, exportable):
    r = client.get(
        f"{API}/export/incidents", params={"format": "parquet"}, headers=users["data_scientist"].headers
    )
    assert r.status_code == 200
    assert r.headers["content-disposition"] == 'attachment; filename="incidents.parquet"'
    frame = pd.read_parquet(io.BytesIO(r.content))
    assert list(frame["number"]) == ["INC0000001", "INC0000002", "INC0000003"]
    assert list(frame["priority"]) == [1, 4, 4]
    assert frame["category"].tolist()[1] == "software"
    assert str(frame["opened_at"].dtype).startswith("datetime64") or frame["opened_at"].notna().all()


def test_export_by_type_name_and_of_other_types(client, users, make):
    make.problem(short_description="Root cause")
    make.asset("db-01")
    h = users["data_scientist"].headers
    for ref, column, expected in (("problem", "number", ["PRB0000001"]), ("assets", "name", ["db-01"])):
        r = client.get(f"{API}/export/{ref}", headers=h)
        assert r.status_code == 200
        assert list(pd.read_csv(io.BytesIO(r.content))[column]) == expected


def test_export_of_empty_type_has_header_only(client, users):
    r = client.get(f"{API}/export/incidents", headers=users["data_scientist"].headers)
    assert r.status_code == 200
    frame = pd.read_csv(io.BytesIO(r.content))
    assert len(frame) == 0 and "number" in frame.columns


@pytest.mark.parametrize("role", ["agent", "requester"])
def test_export_forbidden_for_other_roles(client, users, exportable, role):
    err = assert_error(client.get(f"{API}/export/incidents", headers=users[role].headers), 403)
    assert "data_scientist" in err["message"]
