"""Automation rules that ask for approval: the "request_approval" action names a user or a group, is
validated when the rule is saved, previewed by a dry run, and joins the request's open round."""


import pytest

from tests.api.conftest import API, assert_error
from tests.approval.conftest import order_concurrently


def _rule(client, users, actions, record_type="service_request", as_="admin", **fields):
    body = {"name": fields.pop("name", "Ask"), "record_type": record_type, "trigger": "created", **fields}
    return client.post(f"{API}/rules", json={**body, "actions": actions}, headers=users[as_].headers)


def test_rule_asks_a_user_on_creation_and_they_approve(client, users, make):
    r = _rule(client, users, [{"type": "request_approval", "user": "agent2"}], name="Ask agent2")
    assert r.status_code == 201, r.text
    rule = r.json()
    assert rule["actions"] == [{"type": "request_approval", "user": "agent2", "group": None}]
    req = make.request(as_="requester", short_description="Need a monitor")
    assert req["approval"] == "requested" and req["state"] == "approval"
    approvals = make.get(f"requests/{req['number']}/approvals", as_="requester")
    assert [(a["approver"], a["reason"]) for a in approvals] == [("agent2", f"rule {rule['id']}: Ask agent2")]
    r = client.post(f"{API}/approvals/{approvals[0]['id']}/approve", json={}, headers=users["agent2"].headers)
    assert r.status_code == 200, r.text
    assert make.get(f"requests/{req['number']}")["approval"] == "approved"


def test_rule_group_and_catalog_item_approvers_share_one_round(client, users, make):
    cab = make.group("CAB", members=["agent"])
    board = make.group("Budget board", members=["agent2"])
    assert _rule(client, users, [{"type": "request_approval", "group": cab["name"]}]).status_code == 201
    item = make.catalog_item("Server", requires_approval=True, approval_group=board["name"])
    req = make.request(as_="requester", catalog_item=item["name"])
    approvals = make.get(f"requests/{req['number']}/approvals")
    assert [(a["round"], a["approver_group"], a["state"]) for a in approvals] == [
        (1, cab["name"], "requested"),
        (1, board["name"], "requested"),
    ]
    assert approvals[0]["reason"].startswith("rule ") and approvals[1]["reason"] == "catalog item"


def test_rule_on_changes_asks_too(client, users, make):
    r = _rule(client, users, [{"type": "request_approval", "user": "agent2"}], record_type="change")
    assert r.status_code == 201, r.text
    change = make.change(short_description="Patch the firewall")
    approvals = make.get(f"changes/{change['number']}/approvals")
    assert [a["approver"] for a in approvals] == ["agent2"]


def test_rule_naming_the_caller_fails_without_losing_the_request(client, users, make):
    assert _rule(client, users, [{"type": "request_approval", "user": "requester"}]).status_code == 201
    req = make.request(as_="requester", short_description="Own approval?")
    assert req["approval"] == "not_requested"
    assert make.get(f"requests/{req['number']}/approvals") == []
    actions = [e["action"] for e in make.get(f"requests/{req['number']}/audit")]
    assert "rule_failed" in actions


BAD = [
    ([{"type": "request_approval"}], "service_request", "actions[0].user"),
    ([{"type": "request_approval", "user": "agent2", "group": "CAB"}], "service_request", "actions[0].user"),
    ([{"type": "request_approval", "user": ""}], "service_request", "actions[0].user"),
    ([{"type": "request_approval", "user": 5}], "service_request", "actions[0].user"),
    ([{"type": "request_approval", "user": "ghost"}], "service_request", "actions[0].user"),
    ([{"type": "request_approval", "group": "Nobody"}], "service_request", "actions[0].group"),
    (
        [{"type": "request_approval", "user": "agent2", "policy": "all"}],
        "service_request",
        "actions[0].policy",
    ),
    ([{"type": "request_approval", "user": "agent2"}], "incident", "actions[0].type"),
    ([{"type": "request_approval", "user": "agent2"}], "problem", "actions[0].type"),
]


@pytest.mark.parametrize(("actions", "record_type", "field"), BAD)
def test_bad_request_approval_actions_name_the_path(client, users, actions, record_type, field):
    assert_error(_rule(client, users, actions, record_type=record_type), 422, field=field)
    assert client.get(f"{API}/rules", headers=users["admin"].headers).json() == []


def test_deactivated_approver_is_refused(client, users, make):
    gone = make.user("gone", role="agent")
    r = client.patch(
        f"{API}/users/gone",
        json={"version": gone["version"], "active": False},
        headers=users["admin"].headers,
    )
    assert r.status_code == 200
    refused = _rule(client, users, [{"type": "request_approval", "user": "gone"}])
    assert "deactivated" in assert_error(refused, 422, field="actions[0].user")["message"]


@pytest.mark.parametrize("who", ["agent", "requester", "requester2", "data_scientist"])
def test_only_admins_write_approval_rules(client, users, who):
    assert_error(_rule(client, users, [{"type": "request_approval", "user": "agent2"}], as_=who), 403)


def test_dry_run_previews_the_approval_without_asking(client, users, make):
    req = make.request(as_="requester", short_description="Preview me")
    body = {
        "rule": {
            "name": "Ask agent2",
            "record_type": "service_request",
            "trigger": "created",
            "actions": [{"type": "request_approval", "user": "agent2"}],
        },
        "last": 5,
    }
    r = client.post(f"{API}/rules/dry-run", json=body, headers=users["admin"].headers)
    assert r.status_code == 200, r.text
    ticket = r.json()["tickets"][0]
    assert ticket["number"] == req["number"] and ticket["matched"] is True
    assert ticket["effects"] == [
        {
            "kind": "approval",
            "description": "ask agent2 to approve",
            "detail": {"approver": "agent2", "group": None},
        }
    ]
    assert make.get(f"requests/{req['number']}/approvals") == []  # nothing asked
    bad = {**body, "rule": {**body["rule"], "actions": [{"type": "request_approval", "user": "ghost"}]}}
    assert_error(client.post(f"{API}/rules/dry-run", json=bad, headers=users["admin"].headers), 422)
    for who in ("agent", "requester", "data_scientist"):
        assert_error(client.post(f"{API}/rules/dry-run", json=body, headers=users[who].headers), 403)


def test_concurrent_requests_each_get_one_rule_approval(client, users, make):
    assert _rule(client, users, [{"type": "request_approval", "user": "agent2"}]).status_code == 201
    h = users["requester"].headers

    responses = order_concurrently(client, h, lambda i: {"short_description": f"Order {i}"})
    for r in responses:
        approvals = make.get(f"requests/{r.json()['number']}/approvals")
        assert [(a["round"], a["approver"]) for a in approvals] == [(1, "agent2")]
