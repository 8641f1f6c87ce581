"""Drafting from resolved tickets end to end: generate (review, never published), publish, find; reports."""

from __future__ import annotations

import json

import pytest

from tests.api.conftest import assert_error
from tests.knowledge.helpers import API, api_article, api_incident, api_patch, api_resolve, similar

PRINTER_TICKETS = [
    (
        "Printer queue stuck, nothing prints",
        "Jobs stuck in the printer queue. Call Alice Martin on +44 20 7946 0958.",
    ),
    (
        "Print jobs stuck in printer queue",
        "Nothing prints, the printer queue is stuck. Mail bob.jones@example.com",
    ),
    ("Printer queue stuck after update", "The printer queue is stuck and print jobs wait forever."),
    ("Stuck print jobs in the printer queue", "Printer does not print, jobs stuck in queue."),
]
PRINTER_FIX = "Restarted the print spooler service and cleared the stuck printer queue."
VPN_TICKETS = [
    ("VPN tunnel drops from home", "The VPN tunnel disconnects from home every few minutes."),
    ("VPN disconnects from home office", "VPN tunnel drops, working from home is impossible."),
    ("VPN tunnel keeps dropping at home", "From home the VPN disconnects again and again."),
]
VPN_FIX = "Updated the VPN client and switched the tunnel protocol to IKEv2."


def _resolve_all(client, headers, tickets, fix):
    numbers = []
    for short, desc in tickets:
        inc = api_incident(
            client, headers, short, desc, category="printing" if "rint" in short else "network"
        )
        numbers.append(api_resolve(client, headers, inc["number"], fix)["number"])
    return numbers


@pytest.fixture
def resolved(kclient, users):
    agent = users["agent"].headers
    return {
        "printer": _resolve_all(kclient, agent, PRINTER_TICKETS, PRINTER_FIX),
        "vpn": _resolve_all(kclient, agent, VPN_TICKETS, VPN_FIX),
    }


def test_resolve_draft_review_publish_find(kclient, users, resolved):
    agent = users["agent"].headers
    gaps = kclient.get(f"{API}/knowledge/reports/gaps", headers=users["data_scientist"].headers)
    assert gaps.status_code == 200, gaps.text
    assert sorted(g["size"] for g in gaps.json()["items"]) == [3, 4]

    r = kclient.post(f"{API}/knowledge/drafts/generate", headers=agent, json={})
    assert r.status_code == 200, r.text
    result = r.json()
    assert result["tickets"] == 7 and result["clusters"] == 2
    drafts = {tuple(sorted(d["source_tickets"])): d for d in result["drafts"]}
    printer = drafts[tuple(sorted(resolved["printer"]))]
    assert printer["state"] == "review" and printer["method"] == "extractive"
    article = kclient.get(f"{API}/knowledge/{printer['number']}", headers=agent).json()
    assert article["state"] == "review" and article["author"] == "agent" and article["category"] == "printing"
    assert "spooler" in article["text"].lower()
    for pii in ("Alice", "Martin", "7946", "bob.jones", "example.com"):
        assert pii not in article["text"]
    # Nothing is published by the drafter, and requesters cannot see drafts.
    listed = kclient.get(f"{API}/knowledge", headers=users["requester"].headers).json()
    assert listed["items"] == []
    assert similar(kclient, agent, "printer queue stuck", types=["knowledge_article"]).json()["items"] == []
    # The same tickets are not drafted twice.
    again = kclient.post(f"{API}/knowledge/drafts/generate", headers=agent, json={}).json()
    assert again["tickets"] == 0 and again["drafts"] == []

    published = api_patch(kclient, agent, f"knowledge/{printer['number']}", {"state": "published"})
    assert published["state"] == "published"
    found = kclient.get(
        f"{API}/knowledge/search", headers=users["requester"].headers, params={"q": "printer stuck"}
    )
    assert [i["number"] for i in found.json()["items"]] == [printer["number"]]
    new = api_incident(kclient, agent, "Printer queue stuck on floor 4", "print jobs stuck")
    suggested = {s["number"] for s in new["suggestions"]["similar"]}
    assert printer["number"] in suggested or set(resolved["printer"]) & suggested


def test_generative_drafter_falls_back_to_extractive(kclient, users, resolved, svc, llm_server):
    llm_server.mode = "500"
    svc.settings = svc.settings.model_copy(
        update={
            "knowledge_llm_base_url": llm_server.url,
            "knowledge_llm_model": "tiny",
            "knowledge_llm_timeout_seconds": 5,
        }
    )
    r = kclient.post(
        f"{API}/knowledge/drafts/generate", headers=users["admin"].headers, json={"max_drafts": 1}
    )
    assert r.status_code == 200, r.text
    (draft,) = r.json()["drafts"]
    assert draft["method"] == "extractive" and "HTTP 500" in draft["notes"][0]
    sent = json.dumps(llm_server.requests[0]["body"])
    assert "bob.jones@example.com" not in sent and "7946" not in sent


def test_generative_drafter_is_used_when_configured(kclient, users, resolved, svc, llm_server):
    llm_server.content = json.dumps(
        {
            "title": "Clear a stuck print queue",
            "symptoms": "Jobs wait.",
            "cause": None,
            "resolution_steps": ["Restart the print spooler service.", "Clear the printer queue."],
        }
    )
    svc.settings = svc.settings.model_copy(
        update={"knowledge_llm_base_url": llm_server.url, "knowledge_llm_model": "tiny"}
    )
    r = kclient.post(
        f"{API}/knowledge/drafts/generate", headers=users["agent"].headers, json={"category": "printing"}
    )
    (draft,) = r.json()["drafts"]
    assert draft["method"] == "generative" and draft["short_description"] == "Clear a stuck print queue"
    assert draft["state"] == "review"


def test_stale_report_finds_articles_resolved_differently(kclient, users):
    agent = users["agent"].headers
    numbers = []
    for short, desc in PRINTER_TICKETS[:3]:
        inc = api_incident(kclient, agent, short, desc)
        numbers.append(
            api_resolve(kclient, agent, inc["number"], "Replaced toner cartridge and fuser unit")["number"]
        )
    art = api_article(
        kclient, agent, "Printer queue stuck", "Restart the print spooler service.", source_tickets=numbers
    )
    r = kclient.get(f"{API}/knowledge/reports/stale", headers=agent, params={"min_recent": 3})
    assert r.status_code == 200, r.text
    items = r.json()["items"]
    assert [i["article"] for i in items] == [art["number"]]
    assert items[0]["representative_fix"] == "Replaced toner cartridge and fuser unit"
    assert items[0]["recent_count"] == 3


def test_drafting_validation_and_access(kclient, users):
    url = f"{API}/knowledge/drafts/generate"
    assert_error(kclient.post(url, headers=users["agent"].headers, json={"max_drafts": 0}), 422, "max_drafts")
    assert_error(kclient.post(url, headers=users["agent"].headers, json={"days": "x"}), 422, "days")
    assert_error(kclient.post(url, headers=users["requester"].headers, json={}), 403)
    assert_error(kclient.post(url, headers=users["data_scientist"].headers, json={}), 403)
    assert_error(kclient.get(f"{API}/knowledge/reports/gaps", headers=users["requester"].headers), 403)
    bad = kclient.get(f"{API}/knowledge/reports/gaps", headers=users["agent"].headers, params={"days": 0})
    assert_error(bad, 422, "days")


def test_cli_knowledge_draft_and_index_rebuild(kclient, users, resolved, svc):
    from typer.testing import CliRunner

    from itsm_ai.cli import app

    runner = CliRunner()
    out = runner.invoke(app, ["index", "rebuild"])
    assert out.exit_code == 0, out.output
    assert "index: 7 records" in out.output
    out = runner.invoke(app, ["knowledge", "draft", "--author", "agent", "--max-drafts", "1"])
    assert out.exit_code == 0, out.output
    assert "(in review)" in out.output
    out = runner.invoke(app, ["knowledge", "draft", "--author", "nobody"])
    assert out.exit_code == 2 and "author" in out.output
    out = runner.invoke(app, ["knowledge", "draft", "--max-drafts", "0"])
    assert out.exit_code == 2 and "max_drafts" in out.output
