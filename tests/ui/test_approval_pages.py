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
