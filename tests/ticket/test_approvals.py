"""Approvals of changes and service requests: any/all policies, group approvers, decisions move the record."""

import pytest


@pytest.fixture
def cab(client, users):
    r = client.post(
        "/api/v1/groups", json={"name": "CAB", "members": ["agent2", "admin"]}, headers=users["admin"].headers
    )
    assert r.status_code == 201, r.text
    return r.json()


def _change(client, h, **extra):
    body = {
        "short_description": "Patch the database cluster",
        "change_type": "normal",
        "implementation_plan": "rolling restart",
        "backout_plan": "restore snapshot",
        **extra,
    }
    chg = client.post("/api/v1/changes", json=body, headers=h).json()
    return client.patch(
        f"/api/v1/changes/{chg['number']}", json={"version": chg["version"], "state": "assess"}, headers=h
    ).json()


def test_any_policy_group_approval_schedules_the_change(client, users, cab):
    h = users["agent"].headers
    chg = _change(client, h)
    r = client.post(f"/api/v1/changes/{chg['number']}/approvals", json={"groups": ["CAB"]}, headers=h)
    assert r.status_code == 201, r.text
    approval = r.json()[0]
    after = client.get(f"/api/v1/changes/{chg['number']}", headers=h).json()
    assert after["state"] == "authorize" and after["approval"] == "requested"
    # the requester of the change is not in CAB
    assert client.post(f"/api/v1/approvals/{approval['id']}/approve", json={}, headers=h).status_code == 403
    mine = client.get("/api/v1/approvals", headers=users["agent2"].headers).json()
    assert [a["id"] for a in mine] == [approval["id"]]
    r = client.post(
        f"/api/v1/approvals/{approval['id']}/approve",
        json={"comment": "ok for Sunday"},
        headers=users["agent2"].headers,
    )
    assert r.status_code == 200, r.text
    assert r.json()["decided_by"] == "agent2"
    after = client.get(f"/api/v1/changes/{chg['number']}", headers=h).json()
    assert after["approval"] == "approved" and after["state"] == "scheduled"
    audit = client.get(f"/api/v1/changes/{chg['number']}/audit", headers=h).json()
    assert {"approval_requested", "approval_decided"} <= {e["action"] for e in audit}
    assert (
        client.post(
            f"/api/v1/approvals/{approval['id']}/reject", json={}, headers=users["admin"].headers
        ).status_code
        == 409
    )


def test_all_policy_needs_everyone_and_one_rejection_rejects(client, users):
    h = users["agent"].headers
    req = client.post("/api/v1/requests", json={"short_description": "New laptop"}, headers=h).json()
    r = client.post(
        f"/api/v1/requests/{req['number']}/approvals",
        json={"approvers": ["admin", "agent2"], "policy": "all"},
        headers=h,
    )
    ids = {a["approver"]: a["id"] for a in r.json()}
    assert client.get(f"/api/v1/requests/{req['number']}", headers=h).json()["state"] == "approval"
    client.post(f"/api/v1/approvals/{ids['admin']}/approve", json={}, headers=users["admin"].headers)
    assert client.get(f"/api/v1/requests/{req['number']}", headers=h).json()["state"] == "approval"
    client.post(
        f"/api/v1/approvals/{ids['agent2']}/reject",
        json={"comment": "budget"},
        headers=users["agent2"].headers,
    )
    final = client.get(f"/api/v1/requests/{req['number']}", headers=h).json()
    assert final["state"] == "rejected" and final["approval"] == "rejected"


def test_all_policy_approved_moves_request_to_fulfilment(client, users):
    h = users["agent"].headers
    req = client.post("/api/v1/requests", json={"short_description": "Adobe licence"}, headers=h).json()
    r = client.post(
        f"/api/v1/requests/{req['number']}/approvals",
        json={"approvers": ["admin", "agent2"], "policy": "all"},
        headers=h,
    )
    for a in r.json():
        who = users[a["approver"]].headers
        assert client.post(f"/api/v1/approvals/{a['id']}/approve", json={}, headers=who).status_code == 200
    assert client.get(f"/api/v1/requests/{req['number']}", headers=h).json()["state"] == "fulfilment"


def test_approval_request_validation(client, users):
    h = users["agent"].headers
    req = client.post("/api/v1/requests", json={"short_description": "Monitor"}, headers=h).json()
    r = client.post(f"/api/v1/requests/{req['number']}/approvals", json={}, headers=h)
    assert r.status_code == 422 and r.json()["error"]["fields"][0]["field"] == "approvers"
    r = client.post(f"/api/v1/requests/{req['number']}/approvals", json={"approvers": ["nobody"]}, headers=h)
    assert r.status_code == 422 and "nobody" in r.json()["error"]["message"]
    r = client.post(
        f"/api/v1/requests/{req['number']}/approvals",
        json={"approvers": ["admin"]},
        headers=users["requester"].headers,
    )
    assert r.status_code == 403
