"""Approvals asked on creation, as the portal and the console show them."""

from __future__ import annotations

from tests.ui.conftest import login


def test_portal_and_console_show_approvals_asked_on_creation(client, users, make):
    make.group("Line managers", members=["agent2", "requester"])
    make.catalog_item(
        "VPN access",
        category="Access",
        requires_approval=True,
        approval_group="Line managers",
        approver="admin",
    )
    login(client, "requester")
    assert (
        "needs approval by admin or Line managers, asked when you order" in client.get("/portal/catalog").text
    )
    req = make.request(as_="requester", catalog_item="VPN access")
    page = client.get(f"/portal/tickets/{req['number']}").text
    assert 'id="approval-state">requested' in page.lower()
    assert "Line managers" in page and "the service desk will ask" not in page
    login(client, "agent2")
    page = client.get(f"/console/tickets/{req['number']}").text
    assert "asked on creation" in page and "/approve" in page  # a member of the approving group
    assert 'id="ask-approval"' not in page


def test_console_offers_to_ask_when_the_item_names_no_approver(client, users, make):
    make.catalog_item("Licence", requires_approval=True)
    req = make.request(as_="requester", catalog_item="Licence")
    login(client, "agent")
    page = client.get(f"/console/tickets/{req['number']}").text
    assert 'id="approval-needed"' in page and 'id="ask-approval"' in page
    assert f'data-url="/api/v1/requests/{req["number"]}/approvals"' in page


def test_caller_in_the_approving_group_gets_no_buttons(client, users, make):
    make.group("Approvers", members=["agent", "agent2"])
    make.catalog_item("Monitor", requires_approval=True, approval_group="Approvers")
    req = make.request(as_="agent", catalog_item="Monitor", caller="agent")
    login(client, "agent")
    page = client.get(f"/console/tickets/{req['number']}").text
    assert "Round 1: group Approvers" in page and "/approve" not in page
    login(client, "agent2")
    assert "/approve" in client.get(f"/console/tickets/{req['number']}").text


def test_manager_and_rule_approvals_show_why_they_were_asked(client, users, make):
    current = make.get("users/requester", as_="admin")
    r = client.patch(
        "/api/v1/users/requester",
        json={"version": current["version"], "manager": "agent2"},
        headers=users["admin"].headers,
    )
    assert r.status_code == 200, r.text
    make.group("CAB", members=["agent"])
    rule = make.post(
        "rules",
        {
            "name": "CAB for servers",
            "record_type": "service_request",
            "trigger": "created",
            "actions": [{"type": "request_approval", "group": "CAB"}],
        },
        as_="admin",
    )
    make.catalog_item("Server", requires_approval=True, approval_by_manager=True)
    req = make.request(as_="requester", catalog_item="Server")
    login(client, "agent2")
    page = client.get(f"/console/tickets/{req['number']}").text
    assert "Round 1: agent2" in page and "(asked on creation: the caller's manager)" in page
    assert f"(asked by rule {rule['id']}: CAB for servers)" in page and "Round 1: group CAB" in page
    assert "/approve" in page  # the manager decides
    login(client, "requester")
    page = client.get(f"/portal/tickets/{req['number']}").text
    assert "agent2 (your manager)" in page and "/approve" not in page


def test_admin_users_page_sets_and_removes_managers(client, users, make):
    current = make.get("users/requester", as_="admin")
    client.patch(
        "/api/v1/users/requester",
        json={"version": current["version"], "manager": "agent2"},
        headers=users["admin"].headers,
    )
    login(client, "admin")
    page = client.get("/console/users").text
    assert '<th scope="col">Manager</th>' in page and 'list="user-names"' in page
    assert 'value="agent2"' in page and "Remove manager" in page
    assert '<datalist id="user-names">' in page and '<option value="requester2">' in page


def test_catalog_says_an_item_is_approved_by_the_callers_manager(client, users, make):
    make.group("Procurement")
    make.catalog_item(
        "Laptop", requires_approval=True, approval_by_manager=True, approval_group="Procurement"
    )
    make.catalog_item("Phone", requires_approval=True, approval_by_manager=True)
    login(client, "requester")
    page = client.get("/portal/catalog").text
    assert "needs approval by your manager or Procurement, asked when you order" in page
    assert "needs approval by your manager, asked when you order" in page
