"""Article reader features: helpful votes, view counts, authors and links to source tickets."""

from __future__ import annotations

from sqlalchemy import select

from itsm_ai import database
from itsm_ai.knowledge.article.models import ArticleTicketLink
from tests.api.conftest import assert_error
from tests.knowledge.helpers import API, PRINTER, api_article, api_patch, api_resolved


def test_feedback_counts_and_a_second_vote_replaces_the_first(kclient, users):
    art = api_article(kclient, users["agent"].headers, "Fix printing", PRINTER[2])
    url = f"{API}/knowledge/{art['number']}/feedback"
    r = kclient.post(url, headers=users["requester"].headers, json={"helpful": True, "comment": "thanks"})
    assert r.status_code == 201, r.text
    assert r.json() == {
        "article": art["number"],
        "helpful": True,
        "comment": "thanks",
        "helpful_count": 1,
        "not_helpful_count": 0,
    }
    kclient.post(url, headers=users["agent2"].headers, json={"helpful": True})
    r = kclient.post(url, headers=users["requester"].headers, json={"helpful": False})
    assert (r.json()["helpful_count"], r.json()["not_helpful_count"]) == (1, 1)
    read = kclient.get(f"{API}/knowledge/{art['number']}", headers=users["agent"].headers).json()
    assert (read["helpful_count"], read["not_helpful_count"]) == (1, 1)
    assert read["version"] == art["version"]  # votes are not edits


def test_feedback_errors(kclient, users):
    draft = api_article(kclient, users["agent"].headers, "Unpublished", "text", publish=False)
    url = f"{API}/knowledge/{draft['number']}/feedback"
    assert_error(kclient.post(url, headers=users["requester"].headers, json={"helpful": True}), 404)
    assert_error(kclient.post(url, headers=users["agent"].headers, json={}), 422, field="helpful")
    assert_error(kclient.post(url, headers=users["agent"].headers, json={"helpful": "maybe"}), 422, "helpful")
    bad = kclient.post(url, headers=users["agent"].headers, json={"helpful": True, "stars": 5})
    assert_error(bad, 422, field="stars")
    missing = kclient.post(
        f"{API}/knowledge/KB0999999/feedback", headers=users["agent"].headers, json={"helpful": 1}
    )
    assert_error(missing, 404)


def test_reading_counts_views_without_bumping_the_version(kclient, users):
    art = api_article(kclient, users["agent"].headers, "Fix printing", PRINTER[2])
    for role in ("requester", "agent", "requester"):
        seen = kclient.get(f"{API}/knowledge/{art['number']}", headers=users[role].headers).json()
    assert seen["view_count"] == 3 and seen["version"] == art["version"]
    assert seen["updated_at"] == art["updated_at"]
    # An author's stale-free update still works after reads.
    api_patch(kclient, users["agent"].headers, f"knowledge/{art['number']}", {"text": "Updated"})
    draft = api_article(kclient, users["agent"].headers, "Hidden", "x", publish=False)
    assert_error(kclient.get(f"{API}/knowledge/{draft['number']}", headers=users["requester"].headers), 404)


def test_author_and_source_ticket_links(kclient, users):
    agent = users["agent"].headers
    ticket = api_resolved(kclient, agent, PRINTER)
    art = api_article(
        kclient, agent, "Fix printing", PRINTER[2], source_tickets=[ticket["number"], "INC0999999", "EXT-1"]
    )
    assert art["author"] == "agent"
    with database.get_session() as session:
        links = session.execute(select(ArticleTicketLink.record_type, ArticleTicketLink.number)).all()
    assert links == [("incident", ticket["number"])]
    api_patch(kclient, agent, f"knowledge/{art['number']}", {"source_tickets": []})
    with database.get_session() as session:
        assert session.scalars(select(ArticleTicketLink)).all() == []
