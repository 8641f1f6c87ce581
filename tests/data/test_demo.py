"""The bundled demo data loads without ../shared, once, and gives working accounts and records."""

from __future__ import annotations

from itsm_ai.demo.load import load_demo


def test_demo_loads_once_and_works_through_the_api(client):
    first = load_demo()
    assert first == {
        "users": 4,
        "groups": 6,
        "catalog_items": 5,
        "assets": 5,
        "knowledge_articles": 5,
        "incidents": 460,
    }
    assert set(load_demo().values()) == {0}

    token = client.post("/api/v1/auth/token", data={"username": "agent", "password": "agent-demo-pw"})
    assert token.status_code == 200, token.text
    agent = {"Authorization": f"Bearer {token.json()['access_token']}"}
    page = client.get("/api/v1/incidents?limit=5", headers=agent).json()
    assert page["total"] == 460
    closed = client.get("/api/v1/incidents?state=closed&limit=1", headers=agent).json()["total"]
    resolved = client.get("/api/v1/incidents?state=resolved&limit=1", headers=agent).json()["total"]
    assert closed + resolved > 0.6 * 460
    topic = client.get("/api/v1/incidents?correlation_id=demo-topics-5", headers=agent).json()["items"][0]
    assert topic["assignment_group"] and topic["category"]
    servicenow = client.get("/api/v1/incidents/INC0000401/audit", headers=agent).json()
    assert servicenow[0]["actor"].startswith("Updated by") and servicenow[-1]["action"] == "import"

    alice = client.post("/api/v1/auth/token", data={"username": "alice", "password": "alice-demo-pw"})
    alice_headers = {"Authorization": f"Bearer {alice.json()['access_token']}"}
    own = client.get("/api/v1/incidents", headers=alice_headers).json()
    assert own["total"] == 50 and all(i["caller"] == "alice" for i in own["items"])
    articles = client.get("/api/v1/knowledge", headers=alice_headers).json()
    assert articles["total"] == 5 and all(a["state"] == "published" for a in articles["items"])
