"""Portal pages over TestClient: My tickets pages, filters and searches; a resolved incident offers confirm
and reopen; a request shows its answers and approval state; catalog items show their questions."""

from __future__ import annotations

import re

from tests.ui.conftest import login


def _numbers(html: str) -> list[str]:
    return re.findall(r'href="/portal/tickets/((?:INC|REQ)\d+)"', html)


def test_my_tickets_pages_filters_and_searches(client, users, make):
    mine = [
        make.incident(as_="requester", short_description=f"Printer {i} jams")["number"] for i in range(23)
    ]
    make.incident(as_="requester2", short_description="Printer of someone else")
    done = make.patch(
        f"incidents/{mine[0]}", {"state": "resolved", "resolution_code": "solved", "resolution_notes": "ok"}
    )
    login(client, "requester")
    first = client.get("/portal/tickets").text
    assert "23 tickets" in first and len(_numbers(first)) == 20 and "Next page" in first
    second = client.get("/portal/tickets?offset=20").text
    shown = _numbers(first) + _numbers(second)
    assert sorted(shown) == sorted(mine) and len(set(shown)) == 23
    closed = client.get("/portal/tickets?status=closed").text
    assert _numbers(closed) == [done["number"]]
    opened = client.get("/portal/tickets?status=open").text
    assert "22 tickets" in opened and done["number"] not in opened
    found = client.get("/portal/tickets?q=Printer+1+").text
    assert set(_numbers(found)) == {mine[1]} | {n for i, n in enumerate(mine) if str(i).startswith("1")}
    assert "someone else" not in client.get("/portal/tickets?q=someone").text
    assert client.get("/portal/tickets?status=bogus").status_code == 422
    assert client.get("/portal/tickets?offset=-5").status_code == 422


def test_resolved_incident_offers_confirm_and_reopen(client, users, make):
    inc = make.incident(as_="requester")
    login(client, "requester")
    assert "Is your problem solved?" not in client.get(f"/portal/tickets/{inc['number']}").text
    done = make.patch(
        f"incidents/{inc['number']}",
        {"state": "resolved", "resolution_code": "solved", "resolution_notes": "ok"},
    )
    page = client.get(f"/portal/tickets/{inc['number']}").text
    assert "Is your problem solved?" in page
    assert f'data-url="/api/v1/incidents/{inc["number"]}/confirm"' in page
    assert f"data-body='{{\"version\": {done['version']}}}'" in page


def test_catalog_questions_and_request_answers_with_approval_state(client, users, make):
    make.catalog_item(
        name="Software licence",
        requires_approval=True,
        variables=[
            {
                "name": "application",
                "label": "Which application?",
                "type": "choice",
                "required": True,
                "choices": ["Visio", "Project"],
            },
            {"name": "justification", "label": "Why do you need it?", "required": True},
        ],
    )
    login(client, "requester")
    catalog = client.get("/portal/catalog").text
    assert "Which application?" in catalog and "<option>Visio</option>" in catalog
    assert 'name="variables.application"' in catalog and "data-confirm=" in catalog
    # The item asks its own justification: the generic optional one is not added twice.
    assert catalog.count('name="variables.justification"') == 1
    req = make.request(
        as_="requester",
        catalog_item="Software licence",
        variables={"application": "Visio", "justification": "<b>Diagrams</b>"},
    )
    page = client.get(f"/portal/tickets/{req['number']}").text
    assert "Visio" in page and "&lt;b&gt;Diagrams&lt;/b&gt;" in page
    assert re.search(r'id="approval-state">needed<', page)
    make.post(f"requests/{req['number']}/approvals", {"approvers": ["admin"]}, "agent")
    page = client.get(f"/portal/tickets/{req['number']}").text
    assert re.search(r'id="approval-state">requested<', page)
    assert re.search(r"admin: <span class=\"badge requested\">requested</span>", page)


def test_chat_page_carries_the_user_for_its_saved_conversation(client, users):
    login(client, "requester")
    assert 'data-user="requester"' in client.get("/portal").text
