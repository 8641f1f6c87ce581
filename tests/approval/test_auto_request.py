"""A request for an item that requires approval asks the item's approvers on creation, never the caller."""


import pytest

from tests.api.conftest import API, assert_error
from tests.approval.conftest import order_concurrently


@pytest.fixture
def managers(make):
    return make.group("Line managers", members=["agent2", "requester"])


def test_item_with_group_asks_it_on_creation_and_a_member_approves(client, users, make, managers):
    item = make.catalog_item("VPN access", requires_approval=True, approval_group=managers["name"])
    assert item["approval_group"] == managers["name"]
    req = make.request(as_="requester", catalog_item=item["name"])
    assert req["approval"] == "requested" and req["state"] == "approval"
    approvals = make.get(f"requests/{req['number']}/approvals", as_="requester")
    assert [(a["approver_group"], a["state"]) for a in approvals] == [(managers["name"], "requested")]
    # the caller is a member of the group, but never approves their own request
    r = client.post(
        f"{API}/approvals/{approvals[0]['id']}/approve", json={}, headers=users["requester"].headers
    )
    assert_error(r, 403)
    assert [a["id"] for a in make.get("approvals", as_="agent2")] == [approvals[0]["id"]]
    r = client.post(f"{API}/approvals/{approvals[0]['id']}/approve", json={}, headers=users["agent2"].headers)
    assert r.status_code == 200, r.text
    after = make.get(f"requests/{req['number']}", as_="requester")
    assert after["approval"] == "approved" and after["state"] == "fulfilment"


def test_named_approver_is_asked_unless_they_are_the_caller(make):
    item = make.catalog_item("Standard laptop", requires_approval=True, approver="agent2")
    req = make.request(as_="requester", catalog_item=item["name"])
    assert [a["approver"] for a in make.get(f"requests/{req['number']}/approvals")] == ["agent2"]
    own = make.request(as_="agent2", catalog_item=item["name"], caller="agent2")  # for themselves
    assert own["approval"] == "not_requested" and own["state"] == "submitted"
    assert make.get(f"requests/{own['number']}/approvals") == []


def test_nothing_asked_without_approvers_or_without_required_approval(make, managers):
    plain = make.catalog_item("Monitor", approval_group=managers["name"])  # approval not required
    needs = make.catalog_item("Licence", requires_approval=True)  # required, nobody named
    for item in (plain, needs):
        req = make.request(as_="requester", catalog_item=item["name"])
        assert req["approval"] == "not_requested" and req["state"] == "submitted"


def test_item_approver_must_exist(client, users):
    h = users["admin"].headers
    r = client.post(f"{API}/catalog-items", json={"name": "X", "approver": "ghost"}, headers=h)
    assert_error(r, 422, field="approver")
    r = client.post(f"{API}/catalog-items", json={"name": "Y", "approval_group": "ghosts"}, headers=h)
    assert_error(r, 422, field="approval_group")
    r = client.post(
        f"{API}/catalog-items", json={"name": "Z", "approver": "agent2"}, headers=users["agent"].headers
    )
    assert_error(r, 403)
    ds = users["data_scientist"].headers
    assert_error(client.post(f"{API}/catalog-items", json={"name": "Q"}, headers=ds), 403)


def test_other_requester_cannot_see_or_decide(client, users, make, managers):
    item = make.catalog_item("VPN access", requires_approval=True, approval_group=managers["name"])
    req = make.request(as_="requester", catalog_item=item["name"])
    assert_error(
        client.get(f"{API}/requests/{req['number']}/approvals", headers=users["requester2"].headers), 404
    )
    approval = make.get(f"requests/{req['number']}/approvals")[0]
    for who in ("requester2", "data_scientist"):
        r = client.post(f"{API}/approvals/{approval['id']}/approve", json={}, headers=users[who].headers)
        assert_error(r, 403)


def test_concurrent_orders_each_get_one_round(client, users, make, managers):
    item = make.catalog_item("VPN access", requires_approval=True, approval_group=managers["name"])
    h = users["requester"].headers

    responses = order_concurrently(client, h, lambda _: {"catalog_item": item["name"]})
    for r in responses:
        number = r.json()["number"]
        approvals = make.get(f"requests/{number}/approvals")
        assert [(a["round"], a["state"]) for a in approvals] == [(1, "requested")]
    assert len(make.get("approvals", as_="agent2")) == 6
