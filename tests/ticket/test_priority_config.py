"""The priority matrix is configuration: admins change it, new and updated tickets follow it."""


def test_admin_changes_matrix_and_new_tickets_follow(client, users):
    admin, agent = users["admin"].headers, users["agent"].headers
    current = client.get("/api/v1/config/priority-matrix", headers=agent).json()
    assert current["version"] == 0 and current["matrix"]["1"]["1"] == 1 and current["matrix"]["3"]["3"] == 4
    matrix = current["matrix"]
    matrix["3"]["3"] = 3
    assert (
        client.put(
            "/api/v1/config/priority-matrix", json={"matrix": matrix, "version": 0}, headers=agent
        ).status_code
        == 403
    )
    r = client.put("/api/v1/config/priority-matrix", json={"matrix": matrix, "version": 0}, headers=admin)
    assert r.status_code == 200, r.text
    assert r.json()["version"] == 1
    inc = client.post(
        "/api/v1/incidents", json={"short_description": "Mouse", "impact": 3, "urgency": 3}, headers=agent
    ).json()
    assert inc["priority"] == 3
    stale = client.put("/api/v1/config/priority-matrix", json={"matrix": matrix, "version": 0}, headers=admin)
    assert stale.status_code == 409


def test_incomplete_matrix_is_refused_naming_the_field(client, users):
    r = client.put(
        "/api/v1/config/priority-matrix",
        json={"matrix": {"1": {"1": 1}}, "version": 0},
        headers=users["admin"].headers,
    )
    assert r.status_code == 422 and r.json()["error"]["fields"][0]["field"] == "matrix"
    r = client.put(
        "/api/v1/config/priority-matrix",
        json={"matrix": {str(i): {str(u): 9 for u in (1, 2, 3)} for i in (1, 2, 3)}, "version": 0},
        headers=users["admin"].headers,
    )
    assert r.status_code == 422


def test_lifecycles_are_published(client, users):
    body = client.get("/api/v1/config/lifecycles", headers=users["agent"].headers).json()
    assert "resolved" in body["incident"]["in_progress"] and body["incident"]["closed"] == []


def test_matrix_cache_never_serves_another_stores_matrix_of_the_same_version(client, users):
    """Regression: the cache was keyed by version only, so a second store (a restore, the next test database)
    whose matrix also had version 1 got the first store's matrix."""
    from sqlalchemy import update

    from itsm_ai.database import get_session
    from itsm_ai.workflow.models import WorkflowSetting
    from itsm_ai.workflow.service import PRIORITY_MATRIX_KEY

    admin = users["admin"].headers
    matrix = client.get("/api/v1/config/priority-matrix", headers=admin).json()["matrix"]
    matrix["3"]["3"] = 3
    assert client.put(
        "/api/v1/config/priority-matrix", json={"matrix": matrix, "version": 0}, headers=admin
    ).json()["matrix"]["3"]["3"] == 3
    other = {i: dict(row) for i, row in matrix.items()}
    other["3"]["3"], other["2"]["1"] = 4, 1
    with get_session() as session:  # the same version number, another matrix: as in a restored store
        session.execute(
            update(WorkflowSetting).where(WorkflowSetting.key == PRIORITY_MATRIX_KEY).values(value=other)
        )
    read = client.get("/api/v1/config/priority-matrix", headers=admin).json()
    assert read["version"] == 1 and read["matrix"] == other, (read, other)
