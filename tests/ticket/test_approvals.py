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


# ------------------------------------------------------------------ issue 13: the gate, separation of duties


def _item(client, users, name, requires_approval):
    r = client.post(
        "/api/v1/catalog-items",
        json={"name": name, "requires_approval": requires_approval},
        headers=users["admin"].headers,
    )
    assert r.status_code == 201, r.text


def _request(client, users, item, as_="requester"):
    r = client.post("/api/v1/requests", json={"catalog_item": item}, headers=users[as_].headers)
    assert r.status_code == 201, r.text
    return r.json()


def test_item_requiring_approval_cannot_skip_to_fulfilment(client, users):
    _item(client, users, "Admin rights", True)
    _item(client, users, "Mouse", False)
    h = users["agent"].headers
    req = _request(client, users, "Admin rights")
    r = client.patch(
        f"/api/v1/requests/{req['number']}",
        json={"version": req["version"], "state": "fulfilment"},
        headers=h,
    )
    assert r.status_code == 409, r.text
    error = r.json()["error"]
    assert error["fields"][0]["field"] == "state" and "approval" in error["message"]
    after = client.get(f"/api/v1/requests/{req['number']}", headers=h).json()
    assert after["state"] == "submitted" and after["version"] == req["version"]
    # Created straight into fulfilment by an agent: the same gate.
    r = client.post(
        "/api/v1/requests", json={"catalog_item": "Admin rights", "state": "fulfilment"}, headers=h
    )
    assert r.status_code == 409, r.text
    # With the approval it moves on; an item without approval goes straight to fulfilment.
    a = client.post(
        f"/api/v1/requests/{req['number']}/approvals", json={"approvers": ["agent2"]}, headers=h
    ).json()[0]
    r = client.post(f"/api/v1/approvals/{a['id']}/approve", json={}, headers=users["agent2"].headers)
    assert r.status_code == 200, r.text
    assert client.get(f"/api/v1/requests/{req['number']}", headers=h).json()["state"] == "fulfilment"
    mouse = _request(client, users, "Mouse")
    r = client.patch(
        f"/api/v1/requests/{mouse['number']}",
        json={"version": mouse["version"], "state": "fulfilment"},
        headers=h,
    )
    assert r.status_code == 200, r.text


def test_requester_can_neither_be_named_approver_nor_approve_own_request(client, users):
    _item(client, users, "Admin rights", True)
    h = users["agent"].headers
    req = _request(client, users, "Admin rights")
    r = client.post(
        f"/api/v1/requests/{req['number']}/approvals", json={"approvers": ["requester"]}, headers=h
    )
    assert r.status_code == 422 and r.json()["error"]["fields"][0]["field"] == "approvers", r.text
    # Through a group the requester belongs to: the group may approve, the requester may not.
    r = client.post(
        "/api/v1/groups",
        json={"name": "Owners", "members": ["requester", "agent2"]},
        headers=users["admin"].headers,
    )
    assert r.status_code == 201, r.text
    [a] = client.post(
        f"/api/v1/requests/{req['number']}/approvals", json={"groups": ["Owners"]}, headers=h
    ).json()
    r = client.post(f"/api/v1/approvals/{a['id']}/approve", json={}, headers=users["requester"].headers)
    assert r.status_code == 403, r.text
    assert client.get(f"/api/v1/requests/{req['number']}", headers=h).json()["state"] == "approval"
    r = client.post(f"/api/v1/approvals/{a['id']}/approve", json={}, headers=users["agent2"].headers)
    assert r.status_code == 200, r.text


def test_agent_cannot_approve_own_change(client, users, cab):
    h = users["agent2"].headers  # agent2 is in the CAB and writes the change
    chg = _change(client, h)
    # Naming yourself is allowed (a CAB member asks the CAB), deciding your own change is not.
    [mine] = client.post(
        f"/api/v1/changes/{chg['number']}/approvals", json={"approvers": ["agent2"]}, headers=h
    ).json()
    assert client.post(f"/api/v1/approvals/{mine['id']}/approve", json={}, headers=h).status_code == 403
    [a] = client.post(
        f"/api/v1/changes/{chg['number']}/approvals", json={"groups": ["CAB"]}, headers=h
    ).json()
    r = client.post(f"/api/v1/approvals/{a['id']}/approve", json={}, headers=h)
    assert r.status_code == 403 and "separation of duties" in r.json()["error"]["message"], r.text
    # Assigned to the change (created by someone else): also barred.
    chg2 = _change(client, users["agent"].headers, assigned_to="admin")
    [b] = client.post(
        f"/api/v1/changes/{chg2['number']}/approvals",
        json={"groups": ["CAB"]},
        headers=users["agent"].headers,
    ).json()
    assert (
        client.post(
            f"/api/v1/approvals/{b['id']}/approve", json={}, headers=users["admin"].headers
        ).status_code
        == 403
    )
    r = client.post(f"/api/v1/approvals/{a['id']}/approve", json={}, headers=users["admin"].headers)
    assert r.status_code == 200, r.text
    assert client.get(f"/api/v1/changes/{chg['number']}", headers=h).json()["state"] == "scheduled"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"urgency": 1}, "urgency"),
        ({"impact": 1}, "impact"),
        ({"category": "network"}, "category"),
        ({"subcategory": "vpn"}, "subcategory"),
        ({"extra": {"vip": True}}, "extra"),
    ],
)
def test_requester_cannot_set_critical_category_or_extra(client, users, body, field):
    r = client.post(
        "/api/v1/incidents",
        json={"short_description": "VPN down", **body},
        headers=users["requester"].headers,
    )
    assert r.status_code == 403 and r.json()["error"]["fields"][0]["field"] == field, r.text
    assert client.get("/api/v1/incidents", headers=users["agent"].headers).json()["items"] == []


def test_settings_let_requesters_set_them(client, users, monkeypatch):
    from itsm_ai.config import get_settings

    settings = get_settings()
    monkeypatch.setattr(settings, "requester_may_set_critical", True)
    monkeypatch.setattr(settings, "requester_may_set_category", True)
    monkeypatch.setattr(settings, "requester_extra_keys", ["building"])
    body = {"short_description": "VPN down", "urgency": 1, "category": "network", "extra": {"building": "B"}}
    r = client.post("/api/v1/incidents", json=body, headers=users["requester"].headers)
    assert r.status_code == 201, r.text
    assert r.json()["urgency"] == 1 and r.json()["extra"] == {"building": "B"}
    r = client.post(
        "/api/v1/incidents",
        json={"short_description": "x", "extra": {"vip": True}},
        headers=users["requester"].headers,
    )
    assert r.status_code == 403, r.text


def test_data_scientist_cannot_give_feedback_on_a_draft(client, users):
    h = users["admin"].headers
    art = client.post(
        "/api/v1/knowledge", json={"short_description": "VPN", "text": "Reconnect."}, headers=h
    ).json()
    r = client.post(
        f"/api/v1/knowledge/{art['number']}/feedback",
        json={"helpful": True},
        headers=users["data_scientist"].headers,
    )
    assert r.status_code == 403 and r.json()["error"]["fields"][0]["field"] == "state", r.text
    after = client.get(f"/api/v1/knowledge/{art['number']}", headers=h).json()
    assert after["helpful_count"] == 0
    v = client.patch(
        f"/api/v1/knowledge/{art['id']}", json={"version": art["version"], "state": "review"}, headers=h
    )
    client.patch(
        f"/api/v1/knowledge/{art['id']}",
        json={"version": v.json()["version"], "state": "published"},
        headers=h,
    )
    r = client.post(
        f"/api/v1/knowledge/{art['number']}/feedback",
        json={"helpful": True},
        headers=users["data_scientist"].headers,
    )
    assert r.status_code == 201, r.text
