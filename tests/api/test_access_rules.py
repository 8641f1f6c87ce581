"""Access rules beyond the role matrix: requesters see only their own tickets and never internal work notes,
cannot set triage fields or open tickets for others; the other roles see everything they may read."""

from __future__ import annotations

import pytest

from tests.api.conftest import API, assert_error, store_actions, store_events


@pytest.fixture
def own(make):
    """One incident and one service request for `requester`, and one of each for `requester2`."""
    make.catalog_item("Laptop")
    return {
        "incident": make.incident(caller="requester", short_description="Mine"),
        "request": make.request(caller="requester", catalog_item="Laptop"),
        "other_incident": make.incident(caller="requester2", short_description="Theirs"),
        "other_request": make.request(caller="requester2", catalog_item="Laptop"),
    }


@pytest.mark.parametrize(("path", "key"), [("incidents", "incident"), ("requests", "request")])
@pytest.mark.parametrize("by", ["id", "number"])
def test_other_requester_gets_404_everywhere(client, users, own, path, key, by):
    """requester2 learns nothing about requester's ticket: read, audit, comments, commenting: all 404."""
    ref = own[key][by]
    h = users["requester2"].headers
    for method, url, kw in (
        ("GET", f"{API}/{path}/{ref}", {}),
        ("GET", f"{API}/{path}/{ref}/audit", {}),
        ("GET", f"{API}/{path}/{ref}/comments", {}),
        ("POST", f"{API}/{path}/{ref}/comments", {"json": {"body": "let me in"}}),
    ):
        err = assert_error(client.request(method, url, headers=h, **kw), 404)
        assert "Mine" not in err["message"]
    # ... and the failed comment left nothing behind.
    comments = client.get(f"{API}/{path}/{ref}/comments", headers=users["agent"].headers).json()
    assert comments == []


@pytest.mark.parametrize(
    ("path", "mine", "theirs"),
    [("incidents", "incident", "other_incident"), ("requests", "request", "other_request")],
)
def test_requester_lists_only_own_tickets(client, users, own, path, mine, theirs):
    r = client.get(f"{API}/{path}", headers=users["requester"].headers)
    assert r.status_code == 200
    body = r.json()
    assert [i["number"] for i in body["items"]] == [own[mine]["number"]]
    assert body["total"] == 1
    # Filtering for someone else's ticket explicitly still shows nothing.
    r = client.get(
        f"{API}/{path}",
        params={"number": own[theirs]["number"], "caller": "requester2"},
        headers=users["requester"].headers,
    )
    assert r.json()["items"] == [] and r.json()["total"] == 0
    # Agents and data scientists see all of them.
    for role in ("agent", "data_scientist", "admin"):
        body = client.get(f"{API}/{path}", headers=users[role].headers).json()
        assert body["total"] == 2 and len(body["items"]) == 2


def test_requester_total_is_scoped_after_cache_warmup(client, users, own, make):
    """The cached filtered total is keyed by the requester: one requester's count never leaks."""
    r1 = client.get(f"{API}/incidents", params={"state": "new"}, headers=users["requester"].headers).json()
    r2 = client.get(f"{API}/incidents", params={"state": "new"}, headers=users["requester2"].headers).json()
    make.incident(caller="requester2")
    r2b = client.get(f"{API}/incidents", params={"state": "new"}, headers=users["requester2"].headers).json()
    assert (r1["total"], r2["total"], r2b["total"]) == (1, 1, 2)


def test_requester_never_sees_work_notes_in_comments_or_audit(client, users, own):
    inc = own["incident"]
    agent, req = users["agent"].headers, users["requester"].headers
    r = client.post(
        f"{API}/incidents/{inc['id']}/comments",
        json={"body": "SECRET: caller's manager is on the list", "visibility": "internal"},
        headers=agent,
    )
    assert r.status_code == 201 and r.json()["visibility"] == "internal"
    r = client.post(f"{API}/incidents/{inc['id']}/comments", json={"body": "We are on it"}, headers=agent)
    assert r.status_code == 201 and r.json()["visibility"] == "public"

    seen = client.get(f"{API}/incidents/{inc['id']}/comments", headers=req).json()
    assert [(c["body"], c["visibility"]) for c in seen] == [("We are on it", "public")]
    audit = client.get(f"{API}/incidents/{inc['id']}/audit", headers=req)
    assert audit.status_code == 200
    assert "SECRET" not in audit.text
    assert store_actions(audit.json()) == ["create", "comment"]

    staff_comments = client.get(f"{API}/incidents/{inc['id']}/comments", headers=agent).json()
    assert [c["visibility"] for c in staff_comments] == ["internal", "public"]
    staff_audit = client.get(f"{API}/incidents/{inc['id']}/audit", headers=agent).json()
    assert store_actions(staff_audit) == ["create", "work_note", "comment"]
    assert store_events(staff_audit)[1]["new_value"] == "SECRET: caller's manager is on the list"


TRIAGE_FIELDS = {
    "assignment_group": "Service Desk",
    "assigned_to": "agent",
    "resolution_code": "solved",
    "resolution_notes": "fixed it myself",
    "correlation_id": "ext-1",
    "opened_at": "2024-01-01T00:00:00Z",
    "problem": "PRB0000001",
    "duplicate_of": "INC0000001",
    "state": "in_progress",
}


def test_requester_may_not_set_triage_fields(client, users, make):
    make.group("Service Desk")
    make.problem()
    make.incident()
    for field, value in TRIAGE_FIELDS.items():
        r = client.post(
            f"{API}/incidents",
            json={"short_description": "Help", field: value},
            headers=users["requester"].headers,
        )
        err = assert_error(r, 403, field=field)
        assert field in err["message"]
    assert client.get(f"{API}/incidents", headers=users["agent"].headers).json()["total"] == 1


@pytest.mark.parametrize("field", ["assignment_group", "assigned_to"])
def test_requester_may_not_set_triage_fields_on_requests(client, users, make, field):
    make.group("Service Desk")
    value = {"assignment_group": "Service Desk", "assigned_to": "agent"}[field]
    r = client.post(
        f"{API}/requests", json={"short_description": "x", field: value}, headers=users["requester"].headers
    )
    assert_error(r, 403, field=field)


@pytest.mark.parametrize("path", ["incidents", "requests"])
def test_requester_cannot_open_for_someone_else(client, users, path):
    h = users["requester"].headers
    r = client.post(f"{API}/{path}", json={"short_description": "x", "caller": "requester2"}, headers=h)
    assert_error(r, 403, field="caller")
    # Naming oneself, or nobody, opens the ticket for oneself.
    for body in ({"short_description": "a", "caller": "requester"}, {"short_description": "b"}):
        r = client.post(f"{API}/{path}", json=body, headers=h)
        assert r.status_code == 201, r.text
        assert r.json()["caller"] == "requester"
    assert client.get(f"{API}/{path}", headers=users["agent"].headers).json()["total"] == 2


def test_agent_may_open_for_anyone_and_set_triage_fields(make):
    make.group("Service Desk")
    inc = make.incident(caller="requester2", assignment_group="Service Desk", assigned_to="agent2")
    assert (inc["caller"], inc["assignment_group"], inc["assigned_to"]) == (
        "requester2",
        "Service Desk",
        "agent2",
    )


def test_requester_cannot_change_own_ticket(client, users, own):
    inc = own["incident"]
    r = client.patch(
        f"{API}/incidents/{inc['id']}",
        json={"version": inc["version"], "short_description": "mine now"},
        headers=users["requester"].headers,
    )
    assert_error(r, 403)
    assert (
        client.get(f"{API}/incidents/{inc['id']}", headers=users["agent"].headers).json()["short_description"]
        == "Mine"
    )


def test_requester_sees_only_published_articles(client, users, make):
    draft = make.article(short_description="Draft article")
    published = make.published_article(short_description="Published article")
    h = users["requester"].headers
    body = client.get(f"{API}/knowledge", headers=h).json()
    assert [a["number"] for a in body["items"]] == [published["number"]] and body["total"] == 1
    assert_error(client.get(f"{API}/knowledge/{draft['number']}", headers=h), 404)
    assert_error(client.get(f"{API}/knowledge/{draft['id']}/audit", headers=h), 404)
    assert client.get(f"{API}/knowledge/{published['number']}", headers=h).status_code == 200
    assert client.get(f"{API}/knowledge", headers=users["agent"].headers).json()["total"] == 2


def test_requester_sees_only_active_catalog_items(client, users, make):
    make.catalog_item("Laptop")
    old = make.catalog_item("Fax machine", active=False)
    h = users["requester"].headers
    body = client.get(f"{API}/catalog-items", headers=h).json()
    assert [i["name"] for i in body["items"]] == ["Laptop"] and body["total"] == 1
    assert_error(client.get(f"{API}/catalog-items/{old['id']}", headers=h), 404)
    assert client.get(f"{API}/catalog-items", headers=users["agent"].headers).json()["total"] == 2


def test_requester_cannot_order_inactive_catalog_item(client, users, make):
    make.catalog_item("Fax machine", active=False)
    r = client.post(
        f"{API}/requests", json={"catalog_item": "Fax machine"}, headers=users["requester"].headers
    )
    assert_error(r, 422, field="catalog_item")


def test_data_scientist_reads_all_tickets_but_cannot_change_them(client, users, own, make):
    ds = users["data_scientist"].headers
    prb = make.problem()
    assert client.get(f"{API}/incidents", headers=ds).json()["total"] == 2
    assert client.get(f"{API}/incidents/{own['other_incident']['number']}", headers=ds).status_code == 200
    assert client.get(f"{API}/problems/{prb['number']}", headers=ds).status_code == 200
    r = client.patch(
        f"{API}/incidents/{own['incident']['id']}",
        json={"version": own["incident"]["version"], "urgency": 1},
        headers=ds,
    )
    assert_error(r, 403)
    assert_error(client.delete(f"{API}/problems/{prb['id']}", headers=ds), 403)
    assert_error(client.post(f"{API}/problems", json={"short_description": "x"}, headers=ds), 403)


@pytest.mark.parametrize("path", ["incidents", "requests"])
def test_data_scientist_cannot_open_tickets(client, users, path):
    r = client.post(f"{API}/{path}", json={"short_description": "x"}, headers=users["data_scientist"].headers)
    assert_error(r, 403)
    assert client.get(f"{API}/{path}", headers=users["agent"].headers).json()["total"] == 0


def test_data_scientist_cannot_write_work_notes(client, users, own):
    inc = own["incident"]
    r = client.post(
        f"{API}/incidents/{inc['id']}/comments",
        json={"body": "note", "visibility": "internal"},
        headers=users["data_scientist"].headers,
    )
    assert_error(r, 403)


def test_only_admins_manage_catalog_users_and_groups(client, users):
    for role in ("agent", "data_scientist", "requester"):
        h = users[role].headers
        assert_error(client.post(f"{API}/catalog-items", json={"name": "x"}, headers=h), 403)
        assert_error(client.post(f"{API}/groups", json={"name": "x"}, headers=h), 403)
        assert_error(client.post(f"{API}/users", json={"username": "x"}, headers=h), 403)
    assert client.get(f"{API}/catalog-items", headers=users["admin"].headers).json()["total"] == 0
    assert client.get(f"{API}/groups", headers=users["admin"].headers).json()["total"] == 0
