"""Similar-record and knowledge search endpoints: results, filters, access by role, validation errors."""

from __future__ import annotations

import pytest

from tests.api.conftest import assert_error
from tests.knowledge.helpers import (
    API,
    OUTLOOK,
    PRINTER,
    VPN,
    api_article,
    api_incident,
    api_resolved,
    similar,
)


@pytest.fixture
def seeded(kclient, users):
    agent = users["agent"].headers
    tickets = {name: api_resolved(kclient, agent, t) for name, t in (("printer", PRINTER), ("vpn", VPN))}
    article = api_article(kclient, agent, "Outlook keeps asking for a password", OUTLOOK[2])
    draft = api_article(kclient, agent, "Outlook draft about passwords", OUTLOOK[2], publish=False)
    return {"tickets": tickets, "article": article, "draft": draft}


def test_similar_returns_tickets_with_suggested_fix(kclient, users, seeded):
    r = similar(kclient, users["agent"].headers, "nothing prints, print queue stuck", k=2)
    assert r.status_code == 200, r.text
    items = r.json()["items"]
    top = items[0]
    assert top["number"] == seeded["tickets"]["printer"]["number"]
    assert top["suggested_fix"] == PRINTER[2] and top["state"] == "resolved"
    assert {"number", "record_type", "correlation_id", "short_description", "score", "state"} <= set(top)
    assert len(items) <= 2


def test_similar_finds_published_articles_with_a_link(kclient, users, seeded):
    r = similar(kclient, users["agent"].headers, "outlook password prompt", types=["knowledge_article"])
    items = r.json()["items"]
    assert [i["number"] for i in items] == [seeded["article"]["number"]]  # the draft is not searchable
    assert items[0]["url"] == f"{API}/knowledge/{seeded['article']['number']}"
    assert items[0]["excerpt"].startswith("Rebuilt the Outlook profile")


def test_similar_filters_by_state(kclient, users, seeded):
    agent = users["agent"].headers
    open_one = api_incident(kclient, agent, "Printer jam on floor 2", "Paper jam in the printer tray")
    resolved = similar(kclient, agent, "printer jam paper").json()["items"]
    assert open_one["number"] not in [i["number"] for i in resolved]
    # The state filter is about tickets (articles are always published ones): ask for incidents only.
    opened = similar(kclient, agent, "printer jam paper", state=["new"], types=["incident"]).json()["items"]
    assert [i["number"] for i in opened] == [open_one["number"]]


def test_incident_similar_excludes_itself(kclient, users, seeded):
    agent = users["agent"].headers
    new = api_incident(kclient, agent, "Print queue stuck again", "Jobs sit in the print queue")
    r = kclient.get(f"{API}/incidents/{new['number']}/similar", headers=agent, params={"k": 3})
    assert r.status_code == 200, r.text
    numbers = [i["number"] for i in r.json()["items"]]
    assert numbers[0] == seeded["tickets"]["printer"]["number"] and new["number"] not in numbers
    by_id = kclient.get(f"{API}/incidents/{new['id']}/similar", headers=users["data_scientist"].headers)
    assert by_id.status_code == 200 and by_id.json()["items"][0]["number"] == numbers[0]


def test_requesters_search_published_articles_only(kclient, users, seeded):
    req = users["requester"].headers
    items = similar(kclient, req, "printer queue stuck outlook password").json()["items"]
    assert items and {i["record_type"] for i in items} == {"knowledge_article"}
    denied = similar(kclient, req, "printer", types=["incident"])
    assert_error(denied, 403, field="types")
    own = api_incident(kclient, req, "My printer is stuck")
    assert_error(kclient.get(f"{API}/incidents/{own['number']}/similar", headers=req), 403)
    found = kclient.get(f"{API}/knowledge/search", headers=req, params={"q": "outlook password"})
    assert [i["number"] for i in found.json()["items"]] == [seeded["article"]["number"]]
    # Requesters never see suggestions on their own tickets.
    assert kclient.get(f"{API}/incidents/{own['number']}", headers=req).json()["suggestions"] is None


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "text"),
        ({"text": "   "}, "text"),
        ({"text": "x", "k": 0}, "k"),
        ({"text": "x", "k": 1000}, "k"),
        ({"text": "x", "types": ["asset"]}, "types.0"),
        ({"text": "x", "opened_after": "2024-01-01T00:00:00"}, "opened_after"),
        (
            {"text": "x", "opened_after": "2024-02-01T00:00:00Z", "opened_before": "2024-01-01T00:00:00Z"},
            "opened_before",
        ),
        ({"text": "x", "colour": "red"}, "colour"),
    ],
)
def test_similar_validation_names_the_field(kclient, users, body, field):
    r = kclient.post(f"{API}/similar", headers=users["agent"].headers, json=body)
    assert_error(r, 422, field=field)


def test_knowledge_search_validation_and_auth(kclient, users):
    assert_error(kclient.get(f"{API}/knowledge/search", headers=users["agent"].headers), 422, field="q")
    blank = kclient.get(f"{API}/knowledge/search", headers=users["agent"].headers, params={"q": " "})
    assert_error(blank, 422, field="q")
    assert_error(kclient.post(f"{API}/similar", json={"text": "x"}), 401)
    missing = kclient.get(f"{API}/incidents/INC9999999/similar", headers=users["agent"].headers)
    assert_error(missing, 404)
