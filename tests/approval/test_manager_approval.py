"""Users' managers (validated: exists, active, not self, no cycle) and catalog items approved by the caller's
manager: asked on creation, never the caller; a caller without a manager falls back to the item's named
approvers, or is refused (422 on caller) when the item names none."""

from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import func, select

from itsm_ai import database
from tests.api.conftest import API, assert_error
from tests.approval.conftest import order_concurrently


def _set_manager(client, users, who: str, manager, as_: str = "admin"):
    current = client.get(f"{API}/users/{who}", headers=users["admin"].headers).json()
    body = {"version": current["version"], "manager": manager}
    return client.patch(f"{API}/users/{who}", json=body, headers=users[as_].headers)


def _request_count() -> int:
    from itsm_ai.ticket.models import ServiceRequest

    with database.get_session() as session:
        return session.scalar(select(func.count()).select_from(ServiceRequest))


def test_manager_is_set_shown_and_removed(client, users, make):
    r = _set_manager(client, users, "requester", "agent2")
    assert r.status_code == 200, r.text
    assert r.json()["manager"] == "agent2"
    assert client.get(f"{API}/users/requester", headers=users["agent"].headers).json()["manager"] == "agent2"
    listed = client.get(f"{API}/users", params={"q": "requester"}, headers=users["agent"].headers).json()
    assert {u["username"]: u["manager"] for u in listed["items"]}["requester"] == "agent2"
    created = make.user("newbie", manager="agent")
    assert created["manager"] == "agent"
    r = _set_manager(client, users, "requester", None)
    assert r.status_code == 200 and r.json()["manager"] is None


@pytest.mark.parametrize(
    ("manager", "message"),
    [("ghost", "no user"), ("requester", "own manager"), ("", "no user"), ("x" * 81, None)],
)
def test_bad_manager_is_refused_naming_the_field(client, users, manager, message):
    r = _set_manager(client, users, "requester", manager)
    body = assert_error(r, 422, field="manager")
    if message:
        assert message in body["message"]
    assert client.get(f"{API}/users/requester", headers=users["admin"].headers).json()["manager"] is None


def test_deactivated_manager_and_cycles_are_refused(client, users, make):
    gone = make.user("gone")
    r = client.patch(
        f"{API}/users/gone",
        json={"version": gone["version"], "active": False},
        headers=users["admin"].headers,
    )
    assert r.status_code == 200
    assert (
        "deactivated"
        in assert_error(_set_manager(client, users, "requester", "gone"), 422, "manager")["message"]
    )
    assert _set_manager(client, users, "requester", "agent2").status_code == 200
    assert _set_manager(client, users, "agent2", "agent").status_code == 200
    body = assert_error(_set_manager(client, users, "agent", "requester"), 422, field="manager")
    assert "cycle" in body["message"] and "agent -> requester -> agent2 -> agent" in body["message"]
    r = client.post(
        f"{API}/users", json={"username": "selfish", "manager": "selfish"}, headers=users["admin"].headers
    )
    assert_error(r, 422, field="manager")


@pytest.mark.parametrize("who", ["agent", "requester", "requester2", "data_scientist"])
def test_only_admins_set_managers(client, users, who):
    assert_error(_set_manager(client, users, "requester", "agent2", as_=who), 403)
    assert client.get(f"{API}/users/requester", headers=users["admin"].headers).json()["manager"] is None


def test_concurrent_opposite_managers_never_make_a_cycle(client, users):
    """a -> b and b -> a at once: one wins; the other is refused (422 cycle, or 409 on PostgreSQL's lock)."""
    for _ in range(3):
        _set_manager(client, users, "agent", None)
        _set_manager(client, users, "agent2", None)
        pairs = [("agent", "agent2"), ("agent2", "agent")] * 2
        with ThreadPoolExecutor(4) as pool:
            responses = list(pool.map(lambda p: _set_manager(client, users, *p), pairs))
        assert {r.status_code for r in responses} <= {200, 409, 422}, [r.text for r in responses]
        a = client.get(f"{API}/users/agent", headers=users["admin"].headers).json()["manager"]
        b = client.get(f"{API}/users/agent2", headers=users["admin"].headers).json()["manager"]
        assert not (a == "agent2" and b == "agent"), "a cycle of managers was committed"


def test_item_asks_the_callers_manager_who_approves(client, users, make):
    assert _set_manager(client, users, "requester", "agent2").status_code == 200
    item = make.catalog_item("Team laptop", requires_approval=True, approval_by_manager=True)
    assert item["approval_by_manager"] is True
    req = make.request(as_="requester", catalog_item=item["name"])
    assert req["approval"] == "requested" and req["state"] == "approval"
    approvals = make.get(f"requests/{req['number']}/approvals", as_="requester")
    assert [(a["approver"], a["reason"]) for a in approvals] == [("agent2", "caller's manager")]
    for who in ("requester", "requester2", "data_scientist", "agent"):
        r = client.post(f"{API}/approvals/{approvals[0]['id']}/approve", json={}, headers=users[who].headers)
        assert_error(r, 403)
    r = client.post(f"{API}/approvals/{approvals[0]['id']}/approve", json={}, headers=users["agent2"].headers)
    assert r.status_code == 200, r.text
    assert make.get(f"requests/{req['number']}", as_="requester")["approval"] == "approved"


def test_manager_and_named_group_are_asked_in_one_round(client, users, make):
    assert _set_manager(client, users, "requester", "agent").status_code == 200
    board = make.group("Budget board", members=["agent2"])
    item = make.catalog_item(
        "Server", requires_approval=True, approval_by_manager=True, approval_group=board["name"]
    )
    req = make.request(as_="requester", catalog_item=item["name"])
    approvals = make.get(f"requests/{req['number']}/approvals")
    assert [(a["round"], a["approver"], a["approver_group"], a["reason"]) for a in approvals] == [
        (1, "agent", None, "caller's manager"),
        (1, None, board["name"], "catalog item"),
    ]


def test_no_manager_falls_back_to_the_named_approvers_or_is_refused(client, users, make):
    board = make.group("Budget board", members=["agent2"])
    fallback = make.catalog_item(
        "Server", requires_approval=True, approval_by_manager=True, approval_group=board["name"]
    )
    req = make.request(as_="requester", catalog_item=fallback["name"])
    assert [a["approver_group"] for a in make.get(f"requests/{req['number']}/approvals")] == [board["name"]]
    only_manager = make.catalog_item("Phone", requires_approval=True, approval_by_manager=True)
    before = _request_count()
    r = client.post(
        f"{API}/requests", json={"catalog_item": only_manager["name"]}, headers=users["requester"].headers
    )
    body = assert_error(r, 422, field="caller")
    assert "requester has no manager" in body["message"]
    assert _request_count() == before  # nothing stored
    # An agent ordering on behalf of the same caller gets the same answer.
    r = client.post(
        f"{API}/requests",
        json={"catalog_item": only_manager["name"], "caller": "requester"},
        headers=users["agent"].headers,
    )
    assert_error(r, 422, field="caller")


def test_catalog_flag_is_admin_only_and_typed(client, users, make):
    item = make.catalog_item("Desk")
    for who in ("agent", "requester", "data_scientist"):
        r = client.patch(
            f"{API}/catalog-items/{item['id']}",
            json={"version": item["version"], "approval_by_manager": True},
            headers=users[who].headers,
        )
        assert r.status_code in (403, 404), r.text
    r = client.patch(
        f"{API}/catalog-items/{item['id']}",
        json={"version": item["version"], "approval_by_manager": "maybe"},
        headers=users["admin"].headers,
    )
    assert_error(r, 422, field="approval_by_manager")
    r = client.patch(
        f"{API}/catalog-items/{item['id']}",
        json={"version": item["version"], "approval_by_manager": None},
        headers=users["admin"].headers,
    )
    assert_error(r, 422, field="approval_by_manager")


def test_concurrent_orders_each_ask_the_manager_once(client, users, make):
    assert _set_manager(client, users, "requester", "agent2").status_code == 200
    item = make.catalog_item("Team laptop", requires_approval=True, approval_by_manager=True)
    h = users["requester"].headers

    responses = order_concurrently(client, h, lambda _: {"catalog_item": item["name"]})
    for r in responses:
        approvals = make.get(f"requests/{r.json()['number']}/approvals")
        assert [(a["round"], a["approver"]) for a in approvals] == [(1, "agent2")]
    assert len(make.get("approvals", as_="agent2")) == 6


def test_deactivated_manager_is_not_asked(client, users, make):
    helper = make.user("helper", role="agent")
    assert _set_manager(client, users, "requester", "helper").status_code == 200
    r = client.patch(
        f"{API}/users/helper",
        json={"version": helper["version"], "active": False},
        headers=users["admin"].headers,
    )
    assert r.status_code == 200, r.text
    only_manager = make.catalog_item("Phone", requires_approval=True, approval_by_manager=True)
    r = client.post(
        f"{API}/requests", json={"catalog_item": only_manager["name"]}, headers=users["requester"].headers
    )
    assert "manager helper is deactivated" in assert_error(r, 422, field="caller")["message"]
    with_approver = make.catalog_item(
        "Tablet", requires_approval=True, approval_by_manager=True, approver="agent2"
    )
    req = make.request(as_="requester", catalog_item=with_approver["name"])
    assert [a["approver"] for a in make.get(f"requests/{req['number']}/approvals")] == ["agent2"]
