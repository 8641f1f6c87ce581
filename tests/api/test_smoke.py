"""The first-user path: log in, create an incident, see it listed, read its audit trail."""


def test_login_create_list_audit(client, users):
    agent = users["agent"]
    r = client.post(
        "/api/v1/incidents",
        json={
            "short_description": "Printer on floor 3 jams",
            "impact": 2,
            "urgency": 1,
            "caller": "requester",
        },
        headers=agent.headers,
    )
    assert r.status_code == 201, r.text
    inc = r.json()
    assert inc["number"] == "INC0000001"
    assert inc["priority"] == 2 and inc["priority_label"] == "2 - High"
    assert inc["state"] == "new" and inc["caller"] == "requester"

    r = client.get("/api/v1/incidents", headers=agent.headers)
    assert r.status_code == 200
    body = r.json()
    assert body["total"] == 1 and body["items"][0]["number"] == "INC0000001"

    r = client.patch(
        f"/api/v1/incidents/{inc['number']}",
        json={"version": inc["version"], "urgency": 3},
        headers=agent.headers,
    )
    assert r.status_code == 200, r.text
    assert r.json()["priority"] == 4  # impact 2 x urgency 3 -> 4 Low

    r = client.get(f"/api/v1/incidents/{inc['id']}/audit", headers=agent.headers)
    assert r.status_code == 200
    events = r.json()
    assert events[0]["action"] == "create" and events[0]["actor"] == "agent"
    changes = {(e["field"], e["old_value"], e["new_value"]) for e in events[1:]}
    assert ("urgency", "1", "3") in changes and ("priority", "2", "4") in changes
