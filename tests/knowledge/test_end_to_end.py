"""The issue's "done when" path in one go, over HTTP: resolve tickets, see similar tickets and fixes on a new
one, get a duplicate flag and confirm it, generate drafts, review and publish one, and find it."""

from __future__ import annotations

from tests.knowledge.helpers import API, api_incident, api_patch, api_resolve, similar

TICKETS = [
    ("Laptop docking station not detecting monitors", "External monitors stay black on the dock."),
    ("Docking station monitors not detected", "The dock does not detect the external monitors."),
    ("Monitors on docking station stay black", "Laptop dock: external monitors not detected."),
]
FIX = "Updated the docking station firmware and reinstalled the display driver."


def test_resolve_suggest_duplicate_draft_publish_find(kclient, users):
    agent = users["agent"].headers
    resolved = [api_resolve(kclient, agent, api_incident(kclient, agent, *t)["number"], FIX) for t in TICKETS]

    new = api_incident(
        kclient, agent, "External monitors not detected on docking station", "Dock shows no screens"
    )
    fixes = new["suggestions"]["similar"]
    assert (
        fixes and fixes[0]["number"] in {r["number"] for r in resolved} and fixes[0]["suggested_fix"] == FIX
    )

    again = api_incident(
        kclient, agent, "External monitors not detected on docking station", "Dock shows no screens"
    )
    assert again["suggestions"]["duplicate"]["number"] == new["number"]
    confirmed = kclient.post(f"{API}/incidents/{again['number']}/duplicate/confirm", headers=agent).json()
    assert confirmed["duplicate_of"] == new["number"]

    drafts = kclient.post(f"{API}/knowledge/drafts/generate", headers=agent, json={}).json()["drafts"]
    assert len(drafts) == 1 and sorted(drafts[0]["source_tickets"]) == sorted(r["number"] for r in resolved)
    number = drafts[0]["number"]
    reviewed = api_patch(kclient, agent, f"knowledge/{number}", {"text": "Edited by a reviewer.\n\n" + FIX})
    assert reviewed["state"] == "review"
    assert api_patch(kclient, agent, f"knowledge/{number}", {"state": "published"})["state"] == "published"

    requester = users["requester"].headers
    found = similar(kclient, requester, "docking station monitors black").json()["items"]
    assert [i["number"] for i in found] == [number]
    assert kclient.get(f"{API}/knowledge/{number}", headers=requester).json()["view_count"] == 1
