"""The agent console over TestClient: the queue's search, saved views and paging, the ticket page's
assignment, fields, links, approvals and request answers, and knowledge authoring with Markdown rendered
safely and a diff between versions."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import update

from itsm_ai import database
from itsm_ai.auth.dependencies import CSRF_HEADER, CSRF_VALUE
from tests.ui.conftest import login

CSRF = {CSRF_HEADER: CSRF_VALUE}


@pytest.fixture(autouse=True)
def _hashing_knowledge_encoder(monkeypatch):
    """Knowledge search with the hashing encoder: no sentence model is loaded by these page tests."""
    from itsm_ai.config import get_settings
    from itsm_ai.knowledge.retrieval import service as retrieval

    monkeypatch.setattr(get_settings(), "knowledge_encoder", "hash")
    retrieval.reset_service(None)
    yield
    retrieval.reset_service(None)


def _numbers(html: str) -> list[str]:
    return re.findall(r'<tr data-number="([A-Z]+\d+)"', html)


def _set_suggestions(number: str, suggestions: dict) -> None:
    from itsm_ai.ticket.models import Incident

    with database.get_session() as session:
        session.execute(update(Incident).where(Incident.number == number).values(suggestions=suggestions))


# -- the queue -----------------------------------------------------------------------------------------------


def test_queue_searches_with_the_full_text_index(client, users, make):
    printer = make.incident(short_description="Printer jam on the third floor")
    vpn = make.incident(short_description="VPN drops every ten minutes")
    login(client, "agent")
    page = client.get("/console", params={"q": "printer ja"})
    assert page.status_code == 200
    assert _numbers(page.text) == [printer["number"]]
    assert _numbers(client.get("/console", params={"q": vpn["number"]}).text) == [vpn["number"]]
    assert _numbers(client.get("/console", params={"q": "nothing like this"}).text) == []
    assert "matching “printer ja”" in page.text
    # The filter form as a browser submits it: empty selects mean "any".
    form = {"q": "printer ja", "type": "incident", "group": "", "state": "", "priority": "", "view": "all"}
    assert _numbers(client.get("/console", params=form).text) == [printer["number"]]
    assert client.get("/console", params={"priority": "5"}).status_code == 422


def test_queue_saved_views(client, users, make):
    make.group("Network", members=["agent"])
    make.group("Desk", members=["agent2"])
    mine = make.incident(short_description="Mine", assigned_to="agent", assignment_group="Network")
    group = make.incident(short_description="Group", assignment_group="Network")
    other = make.incident(short_description="Other", assigned_to="agent2", assignment_group="Desk")
    login(client, "agent")

    def view(name):
        return set(_numbers(client.get("/console", params={"view": name}).text))

    assert view("mine") == {mine["number"]}
    assert view("my_groups") == {mine["number"], group["number"]}
    assert view("unassigned") == {group["number"]}
    assert view("all") >= {mine["number"], group["number"], other["number"]}
    assert client.get("/console", params={"view": "nobody"}).status_code == 422


def test_queue_breaching_soon_view_shows_only_clocks_due_within_hours(client, users, make):
    from datetime import timedelta

    from itsm_ai.sla.models import TicketSla
    from itsm_ai.sla.service import current_time

    soon = make.incident(short_description="Due soon", impact=1, urgency=1)
    later = make.incident(short_description="Due later", impact=3, urgency=3)
    with database.get_session() as session:
        for number, hours in ((soon["number"], 1), (later["number"], 72)):
            session.execute(
                update(TicketSla)
                .where(TicketSla.record_id == _incident_id(session, number), TicketSla.kind == "resolution")
                .values(deadline=current_time() + timedelta(hours=hours))
            )
    login(client, "agent")
    page = client.get("/console", params={"view": "breaching"})
    assert _numbers(page.text) == [soon["number"]]
    assert "1 ticket." in page.text


def _incident_id(session, number: str) -> int:
    from sqlalchemy import select

    from itsm_ai.ticket.models import Incident

    return session.scalar(select(Incident.id).where(Incident.number == number))


def _set_resolution_clocks(due_in) -> None:
    """Set each (ticket number, hours) resolution clock: due in that many hours, or stopped when None."""
    from datetime import timedelta

    from itsm_ai.sla.models import TicketSla
    from itsm_ai.sla.service import current_time

    base = current_time()
    with database.get_session() as session:
        for number, hours in due_in:
            values = (
                {"stopped_at": base}
                if hours is None
                else {"deadline": base + timedelta(hours=hours), "stopped_at": None}
            )
            session.execute(
                update(TicketSla)
                .where(TicketSla.record_id == _incident_id(session, number), TicketSla.kind == "resolution")
                .values(**values)
            )


def test_queue_pages_through_every_ticket_once(client, users, make, monkeypatch):
    from itsm_ai.ui import agent_queue

    monkeypatch.setattr(agent_queue, "PAGE_SIZE", 3)
    created = {make.incident(short_description=f"Ticket {i}")["number"] for i in range(7)}
    login(client, "agent")
    seen: list[str] = []
    for page in (1, 2, 3):
        html = client.get("/console", params={"sort": "opened", "page": page}).text
        seen += _numbers(html)
        assert ('rel="next"' in html) == (page < 3)
    assert sorted(seen) == sorted(created)
    assert client.get("/console", params={"page": 0}).status_code == 422
    assert client.get("/console", params={"page": "x"}).status_code == 422


def test_queue_has_bulk_controls_for_staff_only(client, users, make):
    make.incident(short_description="Anything")
    login(client, "agent")
    page = client.get("/console").text
    assert 'id="bulk"' in page and 'aria-label="Select all shown tickets"' in page
    assert 'id="shortcuts"' in page and "<kbd>j</kbd>" in page
    login(client, "data_scientist")
    page = client.get("/console").text
    assert 'id="bulk"' not in page and "pick-row" not in page


# -- the ticket page -----------------------------------------------------------------------------------------


def test_ticket_page_offers_assignment_to_group_members_and_known_values(client, users, make):
    make.group("Network", members=["agent", "agent2"])
    make.group("Desk")
    make.incident(short_description="Seed a category", category="network")
    t = make.incident(short_description="VPN drops", assignment_group="Network")
    login(client, "agent")
    page = client.get(f"/console/tickets/{t['number']}").text
    assert "Assign to me" in page
    members = re.search(r'<select id="f-assigned_to".*?</select>', page, re.S).group(0)
    assert '<option value="agent">' in members and '<option value="agent2">' in members
    assert "requester" not in members
    groups = re.search(r'<select id="f-group".*?</select>', page, re.S).group(0)
    assert '<option value="Desk">' in groups
    categories = re.search(r'<select id="f-category".*?</select>', page, re.S).group(0)
    assert '<option value="network">' in categories


def test_override_picks_from_known_values_and_a_threshold_above_one_reads_never(client, users, make):
    make.group("Network")
    make.incident(short_description="Seed", category="hardware")
    t = make.incident(short_description="VPN drops")
    _set_suggestions(
        t["number"],
        {
            "fields": {
                "category": {
                    "value": None,
                    "status": "abstained",
                    "confidence": 0.4,
                    "threshold": 1.01,
                    "reason": "below the class threshold",
                    "alternatives": [{"value": "network", "confidence": 0.4}],
                },
                "assignment_group": {
                    "value": "Network",
                    "status": "suggested",
                    "confidence": 0.9,
                    "threshold": 0.5,
                },
            }
        },
    )
    login(client, "agent")
    page = client.get(f"/console/tickets/{t['number']}").text
    assert "never suggested at the target precision" in page
    assert "threshold 101%" not in page and "threshold 1%" not in page
    assert "threshold 50%" in page
    override = re.search(r'<select id="ovr-category">.*?</select>', page, re.S).group(0)
    assert '<option value="hardware">' in override
    assert 'list="alts-' not in page  # no free-text input any more


def test_request_page_shows_item_answers_and_actionable_approvals(client, users, make):
    item = make.catalog_item("Laptop", variables=[{"name": "model", "label": "Model"}])
    req = make.request(
        short_description="New laptop",
        catalog_item=item["name"],
        quantity=2,
        variables={"justification": "The old one broke", "model": "14 inch"},
    )
    approval = make.post(f"requests/{req['number']}/approvals", {"approvers": ["agent2"]})
    login(client, "agent")
    page = client.get(f"/console/tickets/{req['number']}").text
    assert "Laptop × 2" in page and "The old one broke" in page and "Justification" in page
    assert "Round 1: agent2" in page and "/approve" not in page  # agent is not the approver
    login(client, "agent2")
    page = client.get(f"/console/tickets/{req['number']}").text
    assert "/approve" in page and "/reject" in page
    assert approval is not None


def test_new_ticket_page_for_a_caller(client, users, make):
    make.group("Desk")
    login(client, "agent")
    page = client.get("/console/new", params={"caller": "requester"})
    assert page.status_code == 200
    assert 'data-url="/api/v1/incidents"' in page.text and 'value="requester"' in page.text
    assert 'data-url="/api/v1/requests"' in client.get("/console/new?type=service_request").text
    assert client.get("/console/new?type=problem").status_code == 422
    login(client, "data_scientist")
    assert client.get("/console/new").status_code == 403
    login(client, "requester")
    assert client.get("/console/new", follow_redirects=False).status_code == 403


def test_ticket_page_escapes_answers_and_is_404_for_unknown_numbers(client, users, make):
    req = make.request(short_description="<b>bold</b>", variables={"why": "<script>alert(1)</script>"})
    login(client, "agent")
    page = client.get(f"/console/tickets/{req['number']}").text
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;" in page
    assert client.get("/console/tickets/INC9999999").status_code == 404


# -- knowledge -----------------------------------------------------------------------------------------------


def test_knowledge_page_lists_every_state_for_agents_only(client, users, make):
    draft = make.article(short_description="Printer drivers", text="Reinstall")
    published = make.published_article(short_description="VPN setup", text="Install the client")
    login(client, "agent")
    page = client.get("/console/knowledge").text
    assert draft["number"] in page and published["number"] in page
    assert 'data-url="/api/v1/knowledge/drafts/generate"' in page and 'href="/console/knowledge/new"' in page
    only = client.get("/console/knowledge", params={"state": "draft"}).text
    assert draft["number"] in only and published["number"] not in only
    found = client.get("/console/knowledge", params={"q": "vpn"}).text
    assert published["number"] in found and draft["number"] not in found
    assert client.get("/console/knowledge", params={"state": "gone"}).status_code == 422
    login(client, "data_scientist")
    assert client.get("/console/knowledge").status_code == 403
    login(client, "requester")
    assert client.get("/console/knowledge/new").status_code == 403


def test_article_markdown_is_rendered_and_sanitised(client, users, make):
    text = (
        "# Fix\n\n1. **Restart** the client\n2. See [docs](https://example.com/a)\n\n"
        "<script>alert(1)</script>\n\n[bad](javascript:alert(2))\n\n<img src=x onerror=alert(3)>"
    )
    article = make.article(short_description="VPN", text=text)
    login(client, "agent")
    page = client.get(f"/console/knowledge/{article['number']}").text
    body = re.search(r'<div class="md">(.*?)</div>', page, re.S).group(1)
    assert "<h1>Fix</h1>" in body and "<strong>Restart</strong>" in body
    assert '<a href="https://example.com/a" rel="noopener">docs</a>' in body
    # Raw HTML is shown as text and the javascript: link is not made a link.
    assert "<script" not in body and "&lt;script&gt;" in body
    assert 'href="javascript' not in body and "<img" not in body
    from itsm_ai.ui.rendering import markdown_html

    # The sanitiser is the second line of defence: HTML that got into the rendering is cleaned.
    assert markdown_html("[x](javascript:alert(1))").count("href") == 0


def test_article_versions_diff_from_the_audit_trail(client, users, make):
    article = make.article(short_description="VPN", text="line one\nline two\n")
    make.patch(
        f"knowledge/{article['number']}", {"version": article["version"], "text": "line one\nline 2\n"}
    )
    login(client, "agent")
    page = client.get(f"/console/knowledge/{article['number']}").text
    assert re.search(r'<li class="ddel">.*?line two</li>', page)
    assert re.search(r'<li class="dadd">.*?line 2</li>', page)
    same = client.get(f"/console/knowledge/{article['number']}", params={"old": 2, "new": 2}).text
    assert "No difference between version 2 and version 2" in same
    assert client.get(f"/console/knowledge/{article['number']}", params={"old": 0}).status_code == 422
    edit = client.get(f"/console/knowledge/{article['number']}/edit").text
    assert 'data-api="PATCH"' in edit and "line 2" in edit


def test_console_changes_go_through_the_api_with_the_csrf_header(client, users, make):
    t = make.incident(short_description="Assign me")
    login(client, "agent")
    body = {"version": t["version"], "assigned_to": "agent"}
    assert client.patch(f"/api/v1/incidents/{t['number']}", json=body).status_code == 403
    done = client.patch(f"/api/v1/incidents/{t['number']}", json=body, headers=CSRF)
    assert done.status_code == 200 and done.json()["assigned_to"] == "agent"
    # The page's version is now stale: a second change from it is refused, not applied over the first.
    stale = client.patch(f"/api/v1/incidents/{t['number']}", json=body, headers=CSRF)
    assert stale.status_code == 409


@pytest.mark.parametrize("small", [True, False])
def test_queue_sla_order_pages_running_clocks_first_then_the_rest(client, users, make, monkeypatch, small):
    """Both ways of reading the SLA order (sorting a small queue, walking the clock index of a big one) give
    the same pages: running clocks soonest due first, then stopped or missing clocks by ticket id."""
    from datetime import timedelta

    from itsm_ai.sla.models import TicketSla
    from itsm_ai.sla.service import current_time
    from itsm_ai.ui import agent_queue

    monkeypatch.setattr(agent_queue, "PAGE_SIZE", 2)
    monkeypatch.setattr(agent_queue, "SMALL_QUEUE", 10_000 if small else 0)
    tickets = [make.incident(short_description=f"Ticket {i}")["number"] for i in range(5)]
    due_in = {tickets[0]: 30, tickets[1]: 5, tickets[2]: 12}  # hours; tickets 3 and 4: clock stopped
    with database.get_session() as session:
        for number in tickets:
            values = (
                {"deadline": current_time() + timedelta(hours=due_in[number]), "stopped_at": None}
                if number in due_in
                else {"stopped_at": current_time()}
            )
            session.execute(
                update(TicketSla)
                .where(TicketSla.record_id == _incident_id(session, number), TicketSla.kind == "resolution")
                .values(**values)
            )
    login(client, "agent")
    seen = []
    for page in (1, 2, 3):
        seen += _numbers(client.get("/console", params={"page": page}).text)
    assert seen == [tickets[1], tickets[2], tickets[0], tickets[3], tickets[4]]


@pytest.mark.parametrize("size", [2, 3, 4])
def test_queue_sla_pages_read_from_the_end_match_the_sorted_order(client, users, make, monkeypatch, size):
    """Back-half pages of a big queue are read from the end (latest due first, reversed): every page equals
    the small queue's sorted page, with equal deadlines ordered by id and stopped clocks after the running."""

    from itsm_ai.ui import agent_queue

    monkeypatch.setattr(agent_queue, "PAGE_SIZE", size)
    tickets = [make.incident(short_description=f"Ticket {i}")["number"] for i in range(9)]
    due_in = [7, 3, None, 3, 12, None, 1, 3, None]  # hours; None: clock stopped
    _set_resolution_clocks(zip(tickets, due_in, strict=True))
    login(client, "agent")
    pages = -(-len(tickets) // size) + 1  # one page past the end too

    def read(small: bool) -> list[list[str]]:
        monkeypatch.setattr(agent_queue, "SMALL_QUEUE", 10_000 if small else 0)
        return [_numbers(client.get("/console", params={"page": p}).text) for p in range(1, pages + 1)]

    expected = [tickets[i] for i in (6, 1, 3, 7, 0, 4, 2, 5, 8)]
    sorted_pages = read(small=True)
    assert sum(sorted_pages, []) == expected
    assert read(small=False) == sorted_pages


@pytest.mark.parametrize("size", [2, 3])
@pytest.mark.parametrize("stray", [False, True])
def test_queue_sla_deep_pages_match_the_sorted_order(client, users, make, monkeypatch, size, stray):
    """Every page of a big queue read as a deep page (from the nearer end; from the clocks' index alone when
    each running clock is a match's) equals the small queue's sorted page, also when a running clock belongs
    to a ticket outside the view (`stray`: a resolved ticket whose clock still runs, due first)."""

    from itsm_ai.ticket.models import Incident
    from itsm_ai.ui import agent_queue

    monkeypatch.setattr(agent_queue, "PAGE_SIZE", size)
    monkeypatch.setattr(agent_queue, "DEEP_PAGE", 0)
    tickets = [make.incident(short_description=f"Ticket {i}")["number"] for i in range(9)]
    outside = make.incident(short_description="Resolved with a running clock")["number"]
    due_in = [7, 3, None, 3, 12, None, 1, 3, 5]  # hours; None: clock stopped
    _set_resolution_clocks([*zip(tickets, due_in, strict=True), (outside, 2)])
    if stray:
        with database.get_session() as session:
            session.execute(update(Incident).where(Incident.number == outside).values(state="resolved"))
    login(client, "agent")
    queue = tickets + ([] if stray else [outside])
    pages = -(-len(queue) // size) + 1  # one page past the end too

    def read(small: bool) -> list[list[str]]:
        monkeypatch.setattr(agent_queue, "SMALL_QUEUE", 10_000 if small else 0)
        return [_numbers(client.get("/console", params={"page": p}).text) for p in range(1, pages + 1)]

    first = [] if stray else [outside]
    expected = [tickets[6], *first] + [tickets[i] for i in (1, 3, 7, 8, 0, 4, 2, 5)]
    sorted_pages = read(small=True)
    assert sum(sorted_pages, []) == expected
    assert read(small=False) == sorted_pages


def test_ticket_page_flags_a_major_incident_and_a_duplicate_first(client, users, make):
    first, second, third = (
        make.incident(short_description=f"Mail server down {i}")["number"] for i in range(3)
    )
    major = {"problem": None, "incidents": [first, second, third], "status": "suggested", "score": 0.81}
    duplicate = {"number": first, "score": 0.955, "status": "suggested"}
    _set_suggestions(third, {"major_incident": major, "duplicate": duplicate})
    login(client, "agent")
    page = client.get(f"/console/tickets/{third}").text
    alerts = page[page.index('id="ai-alerts"') :]
    assert page.index('id="ai-alerts"') < page.index('id="details"')  # above the fold, before the details
    alerts = alerts[: alerts.index("</section>")]
    assert "3 similar open incidents" in alerts and "(each at least 81% similar)" in alerts
    assert f'href="/console/tickets/{second}"' in alerts and "this one" in alerts
    assert f'data-url="/api/v1/incidents/{third}/major-incident/problem"' in alerts
    assert f'Possible duplicate of <a href="/console/tickets/{first}">{first}</a> (96% similar)' in alerts

    created = client.post(f"/api/v1/incidents/{third}/major-incident/problem", headers=users["agent"].headers)
    assert created.status_code in (200, 201), created.text
    page = client.get(f"/console/tickets/{third}").text
    problem = make.get(f"incidents/{third}")["problem"]
    assert problem and f'Problem <a href="/console/tickets/{problem}">{problem}</a> links them.' in page
    assert "/major-incident/problem" not in page
    login(client, "requester")  # a requester never sees the console page
    assert client.get(f"/console/tickets/{third}", follow_redirects=False).status_code in (302, 303, 403, 404)


def test_ticket_page_without_flags_has_no_alerts(client, users, make):
    number = make.incident(short_description="Printer jam")["number"]
    login(client, "agent")
    assert 'id="ai-alerts"' not in client.get(f"/console/tickets/{number}").text


def test_review_list_links_the_tickets_a_draft_came_from(client, users, make):
    from itsm_ai.knowledge.article.models import KnowledgeArticle

    source = make.incident(short_description="Outlook asks for the password")["number"]
    draft = make.article(short_description="Outlook password prompts", text="Clear the credentials")
    with database.get_session() as session:
        session.execute(
            update(KnowledgeArticle)
            .where(KnowledgeArticle.number == draft["number"])
            .values(state="review", source_tickets=[source])
        )
    login(client, "agent")
    page = client.get("/console/knowledge").text
    assert f'from <a href="/console/tickets/{source}">{source}</a>' in page


def test_long_suggested_fixes_open_on_demand(client, users, make):
    number = make.incident(short_description="Upgrade Ubuntu")["number"]
    long_fix = "Run sudo do-release-upgrade from a terminal. " * 20
    similar = [
        {
            "number": "INC0000901",
            "record_type": "incident",
            "short_description": "Upgrade 22.04",
            "state": "closed",
            "score": 0.8,
            "suggested_fix": long_fix,
        },
        {
            "number": "INC0000902",
            "record_type": "incident",
            "short_description": "Upgrade 20.04",
            "state": "closed",
            "score": 0.7,
            "suggested_fix": "Reboot first.",
        },
    ]
    _set_suggestions(number, {"similar": similar})
    login(client, "agent")
    page = client.get(f"/console/tickets/{number}").text
    block = page[page.index('id="similar-list"') :]
    summary = re.search(r'<details class="fix"><summary>Suggested fix: ([^<]*)</summary>', block)
    assert summary and len(summary.group(1)) <= 241 and summary.group(1).endswith("…")
    assert long_fix.strip() in block  # the whole fix is still there, inside the details
    assert '<p class="fix">Suggested fix: Reboot first.</p>' in block  # a short one is shown as it is
